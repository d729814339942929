import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// The basic promise: a change in readiness comes back as (token, events).
    @Suite struct ReadinessTests {
        @Test(arguments: PollerConfig.all)
        func writingToAPipeMakesTheReaderReportRead(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withPipe { reader, writer in
                    let t = token(slot: 1)
                    try poller.register(fd: reader.raw, token: t)
                    try drainEvents(poller)
                    #expect(writeBytes(writer.raw, [1, 2, 3]) == 3)
                    try expectEvents(poller, token: t, contains: .read)
                    try poller.deregister(fd: reader.raw, token: t)
                }
            }
        }

        @Test(arguments: PollerConfig.all)
        func writingToASocketpairMakesThePeerReportRead(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withSocketPair { a, b in
                    let t = token(slot: 2)
                    try poller.register(fd: a.raw, token: t)
                    try drainEvents(poller)
                    #expect(writeBytes(b.raw, [42]) == 1)
                    let seen = try expectEvents(poller, token: t, contains: .read)
                    #expect(!seen.contains(.error), "data is not an error: \(seen)")
                    #expect(!seen.contains(.hangup), "the peer is still open: \(seen)")
                    try poller.deregister(fd: a.raw, token: t)
                }
            }
        }

        @Test(arguments: PollerConfig.all)
        func aFreshSocketReportsWrite(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withSocketPair { a, _ in
                    let t = token(slot: 3)
                    try poller.register(fd: a.raw, token: t)
                    let seen = try expectEvents(poller, token: t, contains: .write)
                    #expect(!seen.contains(.read), "nothing was written to it: \(seen)")
                    try poller.deregister(fd: a.raw, token: t)
                }
            }
        }
    }
}
