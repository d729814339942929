import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension PollerTests {
    /// NETPOLL_BACKEND parsing, the default, and explanations when io_uring is forbidden.
    @Suite struct BackendSelection {
        @Test func anUnknownBackendNameIsRejectedNamingTheValidOnes() {
            #expect(throws: NetpollError.unknownBackend("bogus")) { try Backend.Choice(parsing: "bogus") }
            do throws(NetpollError) {
                _ = try Backend.resolve(environment: ["NETPOLL_BACKEND": "bogus"])
                Issue.record("resolve accepted NETPOLL_BACKEND=bogus")
            } catch {
                #expect(error == .unknownBackend("bogus"))
                #expect(error.description.contains("epoll, uring, auto"), "\(error)")
            }
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
