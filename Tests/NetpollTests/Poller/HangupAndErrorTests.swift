import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// Hang-ups and socket errors wake both modes, as Go maps them; `.error` (Go's
    /// "event error") only for a mask that is exactly EPOLLERR.
    @Suite struct HangupAndErrorTests {
        @Test(arguments: PollerConfig.all)
        func peerCloseIsReportedAsReadWithHangup(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try withSocketPair { a, b in
                    let t = token(slot: 6)
                    try poller.register(fd: a.raw, token: t)
                    try drainEvents(poller)
                    b.close()
                    let seen = try expectEvents(poller, token: t, contains: [.read, .hangup])
                    #expect(!seen.contains(.error), "a hang-up is not Go's event error: \(seen)")
                    try poller.deregister(fd: a.raw, token: t)
                }
            }
        }

        /// The kernel reports a refused connect as ERR|HUP|IN|OUT|RDHUP (tcp_poll), not
        /// a bare ERR, so both waiters wake and learn ECONNREFUSED from SO_ERROR; no
        /// `.error`, exactly as Go (whose connect loop reads SO_ERROR).
        @Test(arguments: PollerConfig.all)
        func aRefusedConnectWakesReaderAndWriterWithTheErrorInSOError(config: PollerConfig) throws {
            try withPoller(config) { poller in
                let port = try closedLoopbackPort()
                let s = try tcpSocket(nonblocking: true)
                defer { s.close() }
                let rc = withSockaddr(loopback(port: port)) { connect(s.raw, $0, $1) }
                let connectErrno = rc < 0 ? errno : 0
                #expect(connectErrno == EINPROGRESS || connectErrno == ECONNREFUSED, "connect: errno \(connectErrno)")
                let t = token(slot: 7)
                try poller.register(fd: s.raw, token: t)
                let seen = try expectEvents(poller, token: t, contains: [.read, .write])
                #expect(seen.contains(.hangup), "a refused connection has hung up: \(seen)")
                #expect(!seen.contains(.error), "ERR came with HUP, so it is not Go's event error: \(seen)")
                if connectErrno == EINPROGRESS {
                    #expect(socketError(s.raw) == ECONNREFUSED)
                }
                try poller.deregister(fd: s.raw, token: t)
            }
        }

        /// The translation both backends share (Poller.swift), checked bit by bit.
        @Test func kernelMasksTranslateAsGoDoes() {
            let inb = UInt32(EPOLLIN.rawValue), out = UInt32(EPOLLOUT.rawValue)
            let rdhup = UInt32(EPOLLRDHUP.rawValue), hup = UInt32(EPOLLHUP.rawValue), err = UInt32(EPOLLERR.rawValue)
            #expect(PollEvents(kernelMask: inb) == [.read])
            #expect(PollEvents(kernelMask: out) == [.write])
            #expect(PollEvents(kernelMask: inb | out) == [.read, .write])
            #expect(PollEvents(kernelMask: rdhup) == [.read, .hangup])
            #expect(PollEvents(kernelMask: hup) == [.read, .write, .hangup])
            #expect(PollEvents(kernelMask: err) == [.read, .write, .error, .errorPending])
            #expect(PollEvents(kernelMask: err | out) == [.read, .write, .errorPending])
            #expect(PollEvents(kernelMask: err | hup | inb | out | rdhup) == [.read, .write, .hangup, .errorPending])
            #expect(PollEvents(kernelMask: 0) == [])
            // An io_uring poll completion's mask is the waker's key, not the state: a
            // bare ERR is never Go's event error there.
            #expect(PollEvents(ringPollMask: err) == [.read, .write, .errorPending])
            #expect(PollEvents(ringPollMask: err | hup | inb | out | rdhup) == [.read, .write, .hangup, .errorPending])
            #expect(PollEvents(ringPollMask: inb) == [.read])
        }
    }
}
