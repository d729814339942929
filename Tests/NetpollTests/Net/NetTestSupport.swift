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
func tcpConnPair(group: LoopGroup, host: String = "127.0.0.1") async throws -> (client: TCPConn, server: TCPConn) {
    let listener = try await TCPListener.listen(host: host, port: 0, group: group)
    do {
        let port = try #require(listener.address?.port)
        async let accepted = listener.accept()
        let client = try await TCPConn.connect(host: host, port: port, timeout: .seconds(5), group: group)
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
