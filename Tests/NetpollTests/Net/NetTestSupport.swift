import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Net suites: a per-test two-loop group, expectations on
// NetpollError, connected pairs, a byte pattern and a few raw-socket helpers.
// (Bounded waits, shared flags and counters, descriptors and the leak check are in
// Support/.)

/// Runs `body` with a fresh two-loop group on `config`'s backend (see
/// ``withLoopGroup``): networking tests want accepted and dialled connections
/// spread over more than one loop.
func withNetGroup(
    _ config: PollerConfig, loops: Int = 2, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (LoopGroup) async throws -> Void
) async throws {
    try await withLoopGroup(config, loops: loops, sourceLocation: sourceLocation, body)
}

// MARK: errors

/// Expects `body` to throw exactly `expected`, within `limit`. Returns how long it took.
@discardableResult
func expectNetError(
    _ expected: NetpollError, within limit: Duration = .seconds(5), _ what: String = "operation",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> Void
) async throws -> Duration {
    let start = ContinuousClock.now
    do {
        try await within(limit, what, sourceLocation: sourceLocation, body)
        Issue.record("\(what) succeeded; expected \(expected)", sourceLocation: sourceLocation)
    } catch let e as TimedOut {
        throw e
    } catch let e as NetpollError {
        #expect(e == expected, "\(what): got \(e), expected \(expected)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): got \(type(of: error)) \(error), expected \(expected)", sourceLocation: sourceLocation)
    }
    return ContinuousClock.now - start
}

// MARK: connections

/// A connected TCP pair on `host` (127.0.0.1 or ::1): (dialled side, accepted side).
/// The listener is closed before returning.
///
/// `buffers`: SO_RCVBUF and SO_SNDBUF for both ends (IPv4 loopback only), set before
/// the handshake — on the listener, whose connections inherit them, and on a client
/// socket dialled here and adopted. Set on connected sockets instead, they shrink a
/// receive window the peer has already seen at full size: the sender keeps an MSS
/// (half the largest window seen, ~32 KiB) above any window the receiver can offer
/// again, so every full segment waits for a 200 ms zero-window probe — a lock-in that
/// once made a 64 MiB transfer take minutes (CI failure; see TransferTests).
func tcpConnPair(group: LoopGroup, host: String = "127.0.0.1", buffers: Int32? = nil) async throws -> (client: TCPConn, server: TCPConn) {
    let listener = try await TCPListener.listen(host: host, port: 0, group: group)
    do {
        let port = try #require(listener.address?.port)
        if let buffers { try setBuffers(listener.fd.sysfd, buffers) }
        async let accepted = listener.accept()
        let client = if let buffers {
            try await dialLoopback(port: port, buffers: buffers, group: group)
        } else {
            try await TCPConn.connect(host: host, port: port, timeout: .seconds(5), group: group)
        }
        let server: TCPConn
        do { server = try await accepted } catch {
            try? await client.close()
            throw error
        }
        try await listener.close()
        return (client, server)
    } catch {
        try? await listener.close()
        throw error
    }
}

private func setBuffers(_ fd: Int32, _ bytes: Int32) throws {
    try Socket.setOption(fd, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF")
    try Socket.setOption(fd, SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF")
}

/// A client socket with `buffers` set before it connects to 127.0.0.1:`port`
/// (a blocking connect: on loopback the listener's backlog answers at once), adopted.
private func dialLoopback(port: Int, buffers: Int32, group: LoopGroup) async throws -> TCPConn {
    let s = try tcpSocket()
    defer { s.close() }  // the connection holds a duplicate
    try setBuffers(s.raw, buffers)
    try withSockaddr(loopback(port: UInt16(port))) { try check("connect", connect(s.raw, $0, $1)) }
    return try await TCPConn.adopting(s.raw, group: group)
}

/// Reads exactly `count` bytes (fails on EOF before that).
func readFully(_ conn: some Conn, count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        let chunk = try await conn.read(maxCount: min(65536, count - out.count))
        if chunk.isEmpty {
            Issue.record("EOF after \(out.count) of \(count) bytes", sourceLocation: sourceLocation)
            break
        }
        out += chunk
    }
    return out
}

/// `rounds` round trips through an echo server: message `i` is `size(i)` bytes of
/// pattern `i`, written and read back whole; the first echo that differs is
/// recorded and ends the run.
func pingPong(
    _ client: some Conn, rounds: Int, sourceLocation: SourceLocation = #_sourceLocation, size: (Int) -> Int
) async throws {
    for i in 0..<rounds {
        let msg = (0..<size(i)).map { patternByte(UInt64(i), $0) }
        try await client.write(msg)
        let got = try await readFully(client, count: msg.count, sourceLocation: sourceLocation)
        if got != msg {
            Issue.record("round \(i): echo differs", sourceLocation: sourceLocation)
            return
        }
    }
}

/// A deterministic byte pattern: byte `i` of stream `seed`.
@inline(__always)
func patternByte(_ seed: UInt64, _ i: Int) -> UInt8 {
    var x = (UInt64(truncatingIfNeeded: i) &+ seed) &* 0x9E37_79B9_7F4A_7C15
    x ^= x >> 29
    return UInt8(truncatingIfNeeded: x ^ (x >> 8))
}

// MARK: raw sockets

/// SO_LINGER {1, 0}: close(2) then sends RST instead of FIN.
func setLingerZero(_ fd: Int32) throws {
    var l = linger(l_onoff: 1, l_linger: 0)
    try check("setsockopt(SO_LINGER)", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size)))
}

/// A unique path under /tmp for a Unix socket.
func uniqueUnixPath(_ tag: String) -> String {
    "/tmp/netpoll-test-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max)).sock"
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// Where a stalled pair stands, printed for a test's message on a hang: each end's
/// wait words (3 = parked), ring receive state and queue (completion mode), the
/// bytes the kernel holds each way and TCP's probe state, then each loop's
/// statistics. Data unread with the reader parked and nothing armed is a lost
/// wakeup here; a full send queue facing an empty receive queue is TCP's.
func printWhereStuck(_ label: String, client: TCPConn, server: TCPConn, group: LoopGroup) {
    print("\(label) client: \(whereStuck(client))")
    print("\(label) server: \(whereStuck(server))")
    for loop in group.loops { print("\(label) loop \(loop.index): \(loop.statistics)") }
}

private func whereStuck(_ c: TCPConn) -> String {
    var unread: Int32 = 0, unsent: Int32 = 0
    _ = ioctl(c.fd.sysfd, UInt(0x541B), &unread)  // FIONREAD
    _ = ioctl(c.fd.sysfd, UInt(0x5411), &unsent)  // TIOCOUTQ (SIOCOUTQ)
    // Zero-window probes (probes, backoff) and idle times say whether TCP itself is
    // stalled: a sender whose next segment exceeds the peer's window waits for its
    // persist timer.
    var info = tcp_info()
    var len = socklen_t(MemoryLayout<tcp_info>.size)
    _ = getsockopt(c.fd.sysfd, Int32(IPPROTO_TCP), TCP_INFO, &info, &len)
    let pd = c.fd.pd
    return "rg=\(pd.rg.load(ordering: .acquiring)) wg=\(pd.wg.load(ordering: .acquiring)) "
        + "ring=\(pd.ringState.load(ordering: .acquiring)) queued=\(pd.hasReceived()) "
        + "unread=\(unread) unsent=\(unsent) loop=\(c.loop.index) "
        + "tcp: mss=\(info.tcpi_snd_mss) probes=\(info.tcpi_probes) backoff=\(info.tcpi_backoff) "
        + "unacked=\(info.tcpi_unacked) idle send/recv=\(info.tcpi_last_data_sent)/\(info.tcpi_last_data_recv) ms"
}
