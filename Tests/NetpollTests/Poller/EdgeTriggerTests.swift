import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// Go's contract is edge-triggered: readiness is reported once per change (spurious
    /// extras allowed), never re-reported level-style while nothing changes.
    @Suite struct EdgeTriggerTests {
        @Test(arguments: PollerConfig.all)
        func readinessIsNotReportedAgainWithoutNewData(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withSocketPair { a, b in
                    let t = token(slot: 5)
                    try poller.register(fd: a.raw, token: t)
                    try drainEvents(poller)
                    #expect(writeBytes(b.raw, [1]) == 1)
                    try expectEvents(poller, token: t, contains: .read)

                    // The byte stays unread: a level-triggered poller would report it forever.
                    var repeats = 0
                    for _ in 0..<100 {
                        repeats += try pollOnce(poller, timeout: .zero).filter { $0.token == t }.count
                    }
                    #expect(repeats <= 2, "\(config.name): \(repeats) events in 100 polls with no new data (level-triggered?)")
                    try poller.deregister(fd: a.raw, token: t)
                }
            }
        }
    }
}
