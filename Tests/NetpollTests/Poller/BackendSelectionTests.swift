import CNetpollTestSupport
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// NETPOLL_BACKEND parsing, the default, and explanations when io_uring is forbidden.
    @Suite struct BackendSelectionTests {
        @Test func anUnknownBackendNameIsRejectedNamingTheValidOnes() {
            let expected = NetpollError.invalidSetting(name: "NETPOLL_BACKEND", value: "bogus", allowed: "must be one of epoll, uring, auto, uring-multishot, uring-oneshot, uring-completion")
            #expect(throws: expected) { try Backend.Choice(parsing: "bogus") }
            #expect(throws: NetpollError.invalidSetting(name: "--backend", value: "x", allowed: "must be one of epoll, uring, auto, uring-multishot, uring-oneshot, uring-completion")) {
                try Backend.Choice(parsing: "x", name: "--backend")
            }
            do throws(NetpollError) {
                _ = try Backend.resolve(environment: ["NETPOLL_BACKEND": "bogus"])
                Issue.record("resolve accepted NETPOLL_BACKEND=bogus")
            } catch {
                #expect(error == expected)
                #expect(error.description == #"invalid NETPOLL_BACKEND "bogus": must be one of epoll, uring, auto, uring-multishot, uring-oneshot, uring-completion"#)
            }
        }

        /// Every NETPOLL_* variable, through the one parser: the error names the
        /// variable, the value and what is allowed.
        @Test(arguments: [
            ("NETPOLL_BACKEND", "bogus", "must be one of epoll, uring, auto, uring-multishot, uring-oneshot, uring-completion"),
            ("NETPOLL_LOOPS", "abc", "must be a whole number from 1 to 1024"),
            ("NETPOLL_LOOPS", "0", "must be a whole number from 1 to 1024"),
            ("NETPOLL_LOOPS", "-1", "must be a whole number from 1 to 1024"),
            ("NETPOLL_LOOPS", "1025", "must be a whole number from 1 to 1024"),
            ("NETPOLL_LOOPS", "99999999999999999999", "must be a whole number from 1 to 1024"),
            ("NETPOLL_URING_MODE", "bogus", "must be one of multishot, oneshot, completion"),
            ("NETPOLL_URING_SETUP", "fast", "must be one of defer, coop, plain"),
            ("NETPOLL_URING_ENTRIES", "0", "must be a whole number from 1 to 32768"),
            ("NETPOLL_URING_ENTRIES", "32769", "must be a whole number from 1 to 32768"),
            ("NETPOLL_URING_ENTRIES", "many", "must be a whole number from 1 to 32768"),
        ])
        func eachBadVariableIsNamedWithItsValueAndWhatIsAllowed(_ name: String, _ value: String, _ allowed: String) {
            let expected = NetpollError.invalidSetting(name: name, value: value, allowed: allowed)
            #expect(throws: expected) { try Settings.Environment(parsing: [name: value]) }
            // Whichever backend is asked for: the variable is checked even when it
            // would not be used (a uring variable under epoll).
            for backend in ["epoll", "auto", "uring"] where name != "NETPOLL_BACKEND" {
                #expect(throws: expected) { try Backend.resolve(environment: ["NETPOLL_BACKEND": backend, name: value]) }
            }
            #expect(expected.description == "invalid \(name) \"\(value)\": \(allowed)")
        }

        /// Issue 8: under epoll, a bad NETPOLL_URING_MODE said "backend uring is unavailable".
        @Test func aBadURingVariableUnderEpollNamesTheVariableNotTheBackend() {
            do throws(NetpollError) {
                _ = try Backend.resolve(environment: ["NETPOLL_BACKEND": "epoll", "NETPOLL_URING_MODE": "bogus"])
                Issue.record("epoll accepted NETPOLL_URING_MODE=bogus")
            } catch {
                guard case .invalidSetting(let name, let value, _) = error else {
                    Issue.record("expected .invalidSetting, got \(error)")
                    return
                }
                #expect(name == "NETPOLL_URING_MODE" && value == "bogus")
                #expect(!error.description.contains("unavailable"), "\(error)")
            }
        }

        @Test func goodValuesAreParsedAndEmptyOnesIgnored() throws {
            let s = try Settings.Environment(parsing: [
                "NETPOLL_BACKEND": "EPOLL", "NETPOLL_URING_MODE": "OneShot", "NETPOLL_URING_SETUP": "coop",
                "NETPOLL_URING_ENTRIES": "2", "NETPOLL_LOOPS": "1024",
            ])
            #expect(s.backend == .epoll)
            #expect(s.uring == URingPoller.Options(entries: 2, mode: .oneshot, setup: .coopTaskrun))
            #expect(s.loops == 1024 && s.loopCount == 1024)

            let empty = try Settings.Environment(parsing: [
                "NETPOLL_BACKEND": "", "NETPOLL_URING_MODE": "", "NETPOLL_URING_SETUP": "", "NETPOLL_URING_ENTRIES": "", "NETPOLL_LOOPS": "",
            ])
            #expect(empty == Settings.Environment())
            #expect(Settings.loops.contains(empty.loopCount))
        }

        /// Issue 8: `LoopGroup(loops: 0)` was a precondition crash; 5000 started 5000 threads.
        @Test(arguments: [0, -1, Settings.maxLoops + 1, 5000])
        func aLoopCountOutsideTheRuleIsAnErrorNamingLoops(_ loops: Int) {
            let expected = NetpollError.invalidSetting(name: "loops", value: String(loops), allowed: "must be a whole number from 1 to 1024")
            #expect(throws: expected) { try LoopGroup(loops: loops, backend: .epoll) }
        }

        @Test func theEnvironmentCanSelectEpoll() throws {
            let (backend, note) = try Backend.resolve(environment: ["NETPOLL_BACKEND": "epoll"])
            #expect(backend == .epoll)
            #expect(note == nil)
        }

        @Test func theDefaultBackendIsEpoll() throws {
            #expect(try Backend.resolve(environment: [:]).backend == .epoll)
            #expect(try Backend.resolve(environment: ["NETPOLL_BACKEND": ""]).backend == .epoll)
        }

        /// The filter binds only the thread that installs it (no TSYNC), so it runs on a
        /// thread of its own; the test thread must still have io_uring afterwards.
        @Test func aSeccompFilterMakesURingUnavailableAndAutoExplainsItsFallback() throws {
            guard case .usable = Backend.probeURing() else {
                print("skipped: io_uring is not usable here even without a filter: \(Backend.probeURing())")
                return
            }
            struct Outcome: Sendable {
                var installed: Int32 = -1
                var uringError: NetpollError?
                var uringAccepted = false
                var auto: (Backend, String?)?
            }
            let out = Handoff(Outcome())
            onNewThread {
                out.value.installed = cnp_seccomp_deny_io_uring(EPERM)
                guard out.value.installed == 0 else { return }
                do throws(NetpollError) {
                    _ = try Backend.resolve(environment: ["NETPOLL_BACKEND": "uring"])
                    out.value.uringAccepted = true
                } catch {
                    out.value.uringError = error
                }
                out.value.auto = try? Backend.resolve(environment: ["NETPOLL_BACKEND": "auto"])
            }.join()

            try #require(out.value.installed == 0, "seccomp filter not installed: errno \(-out.value.installed)")
            #expect(!out.value.uringAccepted, "uring was selected under a filter that denies io_uring")
            if case .backendUnavailable(let backend, let reason)? = out.value.uringError {
                #expect(backend == "uring")
                #expect(reason.contains("EPERM"), "\(reason)")
                #expect(reason.contains("seccomp"), "\(reason)")
            } else {
                Issue.record("expected .backendUnavailable, got \(String(describing: out.value.uringError))")
            }
            let auto = try #require(out.value.auto, "auto threw")
            #expect(auto.0 == .epoll)
            let note = try #require(auto.1, "auto fell back without saying why")
            #expect(note.contains("EPERM") && note.contains("epoll"), "\(note)")

            // The filter stayed on its thread.
            #expect(Backend.probeURing() == .usable)
            let (backend, _) = try Backend.resolve(environment: ["NETPOLL_BACKEND": "uring"])
            #expect(backend.kind == .uring)
        }

        /// No backend may vanish from CI quietly: io_uring must be usable unless the
        /// sysctl disables it or a seccomp filter is active on this process.
        @Test func everyBackendIsUsableHere() {
            let disabled = readProcFile("/proc/sys/kernel/io_uring_disabled")?.trimmingWhitespace ?? "?"
            let status = readProcFile("/proc/self/status") ?? ""
            let seccomp = status.split(separator: "\n").first { $0.hasPrefix("Seccomp:") }
                .map { String($0.dropFirst("Seccomp:".count)).trimmingWhitespace } ?? "?"
            for config in PollerConfig.all {
                guard case .unusable(let reason) = config.availability else { continue }
                if config.backend.kind == .epoll {
                    Issue.record("epoll unusable: \(reason)")
                } else if disabled == "0" && seccomp == "0" {
                    Issue.record("\(config.name) unusable although kernel.io_uring_disabled=0 and no seccomp filter: \(reason)")
                } else {
                    print("skipped: \(config.name): \(reason) (io_uring_disabled=\(disabled), Seccomp=\(seccomp))")
                }
            }
        }
    }
}
