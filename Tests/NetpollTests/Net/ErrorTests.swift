import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/net_test.go TestReadAfterReset-like checks (a reset is ECONNRESET, not a
// timeout), net/dial_test.go TestDialError (refused), TestDialTimeout and
// TestDialTimeoutFDLeak (a dial to a target that never answers honours its timeout).

extension SerializedTests.NetTests {
    @Suite struct ErrorTests {
        @Test(arguments: loopConfigs)
        func peerResetIsECONNRESETNotATimeout(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                // Data the server never reads, then an abortive close: the kernel sends RST.
                try await client.write([UInt8](repeating: 1, count: 1000))
                try await waitUntil(within: .seconds(5), "data reached the server") { CloseTests.peekable(server.fd.sysfd) }
                try setLingerZero(server.fd.sysfd)
                try client.setReadDeadline(.now + .seconds(10))  // a bug would show as a timeout, not a hang
                let reader = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(30))
                try await server.close()
                do {
                    _ = try await within(.seconds(5), "read after peer reset") { try await reader.value }
                    Issue.record("read succeeded after a reset")
                } catch let e as NetpollError {
                    #expect(e == .system("read", ECONNRESET), "got \(e)")
                    #expect(!e.isTimeout)
                }
                try await client.close()
            }
        }

        @Test(arguments: loopConfigs)
        func writeAfterPeerResetFails(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try setLingerZero(server.fd.sysfd)
                try await server.close()
                // The RST arrives asynchronously; the first send may still succeed.
                var failure: NetpollError?
                for _ in 0..<100 where failure == nil {
                    do {
                        try await within(.seconds(5), "send to a reset peer") { try await client.write([1]) }
                        try await Task.sleep(for: .milliseconds(5))
                    } catch let e as NetpollError {
                        failure = e
                    }
                }
                let e = try #require(failure, "writes to a reset peer kept succeeding")
                #expect(e == .system("send", ECONNRESET) || e == .system("send", EPIPE), "got \(e)")
                #expect(!e.isTimeout)
                try await client.close()
            }
        }

        @Test(arguments: loopConfigs)
        func dialToAClosedPortIsRefused(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let port = try closedLoopbackPort()
                try await expectNetError(.system("connect", ECONNREFUSED), "dial 127.0.0.1:\(port)") {
                    let c = try await TCPConn.connect(to: SocketAddress(ip: "127.0.0.1", port: Int(port)), timeout: .seconds(5), group: group)
                    try? await c.close()
                }
                try await expectNetError(.system("connect", ECONNREFUSED), "dial by host name") {
                    let c = try await TCPConn.connect(host: "127.0.0.1", port: Int(port), group: group)
                    try? await c.close()
                }
            }
        }

        /// A listener that never accepts, with its accept queue full: the kernel drops
        /// further SYNs (tcp_conn_request: "sk_acceptq_is_full → drop", whatever
        /// tcp_syncookies says), so a new connect sees no SYN-ACK and retransmits after
        /// 1 s — a local blackhole. The dial must end with a timeout near its 200 ms.
        @Test(arguments: loopConfigs)
        func dialTimeoutToAFullListenQueueIsHonoured(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, backlog: 0, group: group)
                let port = try #require(listener.address?.port)
                var fillers: [OwnedFD] = []
                defer { for f in fillers { f.close() } }
                // backlog 0 admits one queued connection; a few more make sure every
                // pending handshake has settled into "queue full".
                for _ in 0..<8 {
                    let s = try tcpSocket(nonblocking: true)
                    _ = withSockaddr(loopback(port: UInt16(port))) { Glibc.connect(s.raw, $0, $1) }
                    fillers.append(s)
                }
                try await Task.sleep(for: .milliseconds(100))
                let established = fillers.filter { socketError($0.raw) == 0 && Self.isConnected($0.raw) }.count
                let syncookies = readProcFile("/proc/sys/net/ipv4/tcp_syncookies").map { String($0.filter { !$0.isWhitespace }) } ?? "?"

                let start = ContinuousClock.now
                do {
                    let c = try await within(.seconds(5), "dial with a 200 ms timeout") {
                        try await TCPConn.connect(to: SocketAddress(ip: "127.0.0.1", port: port), timeout: .milliseconds(200), group: group)
                    }
                    Issue.record("dial to a full listen queue succeeded (fillers connected: \(established)/8, tcp_syncookies=\(syncookies))")
                    try await c.close()
                } catch let e as NetpollError {
                    #expect(e.isTimeout, "got \(e), expected a timeout")
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= .milliseconds(200), "dial gave up after \(elapsed), before its 200 ms timeout")
                #expect(elapsed < .seconds(2), "dial took \(elapsed) with a 200 ms timeout")
                try await listener.close()
            }
        }

        static func isConnected(_ fd: Int32) -> Bool {
            var s = SocketAddressStorage()
            return s.withMutableSockaddr { sa, len in getpeername(fd, sa, len) } == 0
        }
    }
}
