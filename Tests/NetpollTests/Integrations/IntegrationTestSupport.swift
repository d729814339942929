import Netpoll
import Testing

extension SerializedTests {
    /// The integration products (NetpollMetrics, NetpollLifecycle, NetpollLogging),
    /// each compiled in only with its package trait (`swift test --traits Metrics,Lifecycle,Logging`,
    /// as scripts/test runs it); without the trait its suite is empty.
    @Suite struct IntegrationTests {}
}

/// An echo handler, as an embedder writes one.
@Sendable func echoHandler(_ conn: TCPConn) async throws {
    while true {
        let open = try await conn.readBorrowed { bytes in
            if bytes.isEmpty { return false }
            try await conn.write(bytes)
            return true
        }
        if !open { return }
    }
}

/// Writes `bytes` and reads as many back (fewer if the peer closes first).
func echoRoundTrip(_ conn: TCPConn, _ bytes: [UInt8]) async throws -> [UInt8] {
    try await conn.write(bytes)
    try conn.setReadDeadline(.now + .seconds(10))
    var got: [UInt8] = []
    while got.count < bytes.count {
        let chunk = try await conn.read(maxCount: 4096)
        if chunk.isEmpty { break }
        got += chunk
    }
    try conn.setReadDeadline(nil)
    return got
}
