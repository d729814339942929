import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// Deregistration: when it returns the poller holds nothing of the file, and
    /// nothing registered before it is delivered after it.
    @Suite struct DeregisterTests {
        /// Catches io_uring's pending poll holding the file: without waiting for the
        /// POLL_REMOVE, close(2) would not drop the last reference and no FIN is sent.
        @Test(arguments: PollerConfig.all)
        func deregisterThenCloseSendsEOFToThePeer(config: PollerConfig) throws {
            try withPoller(config) { poller in
                let (listener, port) = try tcpListener()
                defer { listener.close() }
                let client = try tcpSocket()
                defer { client.close() }
                try withSockaddr(loopback(port: port)) { try check("connect", connect(client.raw, $0, $1)) }
                let server = OwnedFD(try check("accept", accept(listener.raw, nil, nil)))
                defer { server.close() }
                try setNonblocking(server.raw)

                let t = token(slot: 8)
                try poller.register(fd: server.raw, token: t)
                _ = try pollOnce(poller, timeout: .milliseconds(100))
                try poller.deregister(fd: server.raw, token: t)
                server.close()

                var pfd = pollfd(fd: client.raw, events: Int16(POLLIN), revents: 0)
                let ready = Glibc.poll(&pfd, 1, 1000)
                #expect(ready == 1, "\(config.name): the client saw nothing within 1 s of close: the poller still holds the file")
                if ready == 1 {
                    var byte: UInt8 = 0
                    #expect(read(client.raw, &byte, 1) == 0, "expected EOF")
                }
            }
        }

        /// Token A's descriptor is closed and its number reused under token B: events for
        /// A must never surface, even one that was pending when A was deregistered.
        @Test(arguments: PollerConfig.all)
        func aStaleTokenIsNeverDeliveredForAReusedDescriptor(config: PollerConfig) throws {
            try withPoller(config) { poller in
                let tokenA = token(slot: 9, seq: 1)
                let tokenB = token(slot: 9, seq: 2)
                var number: Int32 = -1
                var seen: [Event] = []  // everything delivered after A's deregistration
                try withSocketPair { a, b in
                    number = a.raw
                    try poller.register(fd: a.raw, token: tokenA)
                    _ = try pollOnce(poller, timeout: .zero)
                    // Readiness for A arrives, unconsumed, right before A goes away.
                    #expect(writeBytes(b.raw, [1]) == 1)
                    try poller.deregister(fd: a.raw, token: tokenA)
                }
                try withSocketPair { c, d in
                    if c.raw != number {
                        try check("dup2", dup2(c.raw, number))
                        c.close()
                    }
                    let reused = OwnedFD(number)
                    defer { reused.close() }
                    try poller.register(fd: reused.raw, token: tokenB)
                    #expect(writeBytes(d.raw, [2]) == 1)
                    let clock = ContinuousClock()
                    let deadline = clock.now + .seconds(1)
                    while clock.now < deadline && !seen.contains(where: { $0.token == tokenB && $0.events.contains(.read) }) {
                        seen += try pollOnce(poller, timeout: .milliseconds(20))
                    }
                    seen += try drainEvents(poller)
                    try poller.deregister(fd: reused.raw, token: tokenB)
                }
                let lateA = seen.filter { $0.token == tokenA }
                #expect(lateA.isEmpty, "\(config.name): stale events for A delivered: \(lateA)")
                #expect(seen.contains { $0.token == tokenB && $0.events.contains(.read) }, "B was not reported: \(seen)")
                #expect(seen.allSatisfy { $0.token == tokenA || $0.token == tokenB }, "unknown tokens: \(seen)")
                #expect(poller.counters.staleEvents <= 8, "\(config.name): staleEvents = \(poller.counters.staleEvents)")
            }
        }

        /// epoll refuses a closed descriptor at once with EBADF. io_uring learns it from
        /// the POLL_ADD's CQE (-EBADF) and, as URingPoller documents, wakes both waiters
        /// with `.error` and forgets the token; deregistering it afterwards is a no-op.
        @Test(arguments: PollerConfig.all)
        func registeringAClosedDescriptorFailsWithEBADF(config: PollerConfig) throws {
            try withPoller(config) { poller in
                let closed = try withPipe { r, _ in r.raw }  // closed on return
                let t = token(slot: 10)
                switch config.backend.kind {
                case .epoll:
                    #expect(throws: NetpollError.system("epoll_ctl(ADD)", EBADF)) {
                        try poller.register(fd: closed, token: t)
                    }
                case .uring:
                    try poller.register(fd: closed, token: t)
                    let seen = try expectEvents(poller, token: t, contains: [.read, .write, .error])
                    #expect(seen == [.read, .write, .error, .errorPending])
                    try poller.deregister(fd: closed, token: t)
                    try expectNoEvents(poller, token: t, for: .milliseconds(50))
                }
            }
        }
    }
}
