import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// Many registrations through a small ring / event array: SQ full (submit and
    /// retry), CQ overflow (NODROP, multishot ended → re-armed); nothing is lost.
    @Suite struct ScaleTests {
        static let pairs = 2_000

        @Test(arguments: PollerConfig.all)
        func twoThousandSocketpairsThroughASmallRingAreAllReported(config: PollerConfig) throws {
            guard ensureDescriptorLimit(2 * Self.pairs + 16) else {
                Issue.record("RLIMIT_NOFILE hard limit too low for \(2 * Self.pairs) descriptors")
                return
            }
            try withPoller(config, capacity: 64) { poller in
                var readers: [OwnedFD] = []
                var writers: [OwnedFD] = []
                defer {
                    for fd in readers { fd.close() }
                    for fd in writers { fd.close() }
                }
                for _ in 0..<Self.pairs {
                    var fds: [Int32] = [-1, -1]
                    try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds))
                    readers.append(OwnedFD(fds[0]))
                    writers.append(OwnedFD(fds[1]))
                }
                for (i, r) in readers.enumerated() {
                    try poller.register(fd: r.raw, token: token(slot: UInt32(i) + 100))
                }
                for w in writers { #expect(writeBytes(w.raw, [1]) == 1) }

                var reported = Set<UInt64>()
                var stray: [Event] = []
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(20)
                while reported.count < Self.pairs && clock.now < deadline {
                    for e in try pollOnce(poller, timeout: .milliseconds(50)) {
                        let slot = e.token.rawValue >> 32
                        guard slot >= 100 && slot < 100 + UInt64(Self.pairs) else {
                            stray.append(e)
                            continue
                        }
                        if e.events.contains(.read) { reported.insert(slot) }
                    }
                }
                #expect(reported.count == Self.pairs, "\(config.name): \(Self.pairs - reported.count) of \(Self.pairs) tokens never reported .read")
                #expect(stray.isEmpty, "unknown tokens: \(stray.prefix(5))")

                // Then the poller settles: no lasting storm of re-arms (an overflowed CQ
                // once kept every multishot poll ending and re-arming for ever).
                var quiet = false
                let settleBy = clock.now + .seconds(5)
                while !quiet && clock.now < settleBy {
                    quiet = try pollOnce(poller, timeout: .milliseconds(100)).isEmpty
                }
                #expect(quiet, "\(config.name): still delivering events 5 s after every token was reported")
                for (i, r) in readers.enumerated() {
                    try poller.deregister(fd: r.raw, token: token(slot: UInt32(i) + 100))
                }
            }
        }
    }
}
