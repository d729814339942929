import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// Write readiness follows the send buffer: none while it is full, one when it drains.
    @Suite struct WriteBackpressureTests {
        @Test(arguments: PollerConfig.all)
        func aFullSendBufferReportsNoWriteUntilThePeerDrains(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withSocketPair { a, b in
                    var small: Int32 = 4096
                    try check("setsockopt(SO_SNDBUF)", setsockopt(a.raw, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size)))
                    let t = token(slot: 4)
                    try poller.register(fd: a.raw, token: t)
                    try expectEvents(poller, token: t, contains: .write)

                    // Fill until EAGAIN.
                    let chunk = [UInt8](repeating: 7, count: 1024)
                    var written = 0
                    while true {
                        let n = writeBytes(a.raw, chunk)
                        if n > 0 { written += n; continue }
                        #expect(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "write: \(n) errno \(errno)")
                        break
                    }
                    #expect(written > 0)
                    // What the runtime does before a writer waits (no-op unless one-shot).
                    try poller.arm(token: t, events: .write)
                    try drainEvents(poller)

                    try expectNoEvents(poller, token: t, matching: .write, for: .milliseconds(200))

                    #expect(drainReadable(b.raw) == written)
                    try expectEvents(poller, token: t, contains: .write)
                    try poller.deregister(fd: a.raw, token: t)
                }
            }
        }
    }
}
