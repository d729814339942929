import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/tcpsockopt_test.go, net/sockopt_test.go: each option of Go's TCPConn
// (SetNoDelay, SetKeepAlive, SetKeepAlivePeriod, SetLinger, SetReadBuffer,
// SetWriteBuffer), read back from the kernel with getsockopt.

extension SerializedTests.NetTests {
    @Suite struct SocketOptionTests {
        static func option(_ fd: Int32, _ level: Int32, _ name: Int32) throws -> Int32 {
            var v: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            _ = try check("getsockopt", getsockopt(fd, level, name, &v, &len))
            return v
        }

        static func linger(_ fd: Int32) throws -> Glibc.linger {
            var l = Glibc.linger()
            var len = socklen_t(MemoryLayout<Glibc.linger>.size)
            _ = try check("getsockopt(SO_LINGER)", getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len))
            return l
        }

        @Test(arguments: loopConfigs)
        func tcpOptionsReadBackFromTheKernel(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let fd = client.fd.sysfd
                let tcp = Int32(IPPROTO_TCP)
                // Go's defaults on a dialled connection.
                #expect(try Self.option(fd, tcp, TCP_NODELAY) == 1)
                #expect(try Self.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1)
                #expect(try Self.option(fd, tcp, TCP_KEEPIDLE) == 15)

                try client.setNoDelay(false)
                #expect(try Self.option(fd, tcp, TCP_NODELAY) == 0)
                try client.setNoDelay(true)
                #expect(try Self.option(fd, tcp, TCP_NODELAY) == 1)

                try client.setKeepAlive(false)
                #expect(try Self.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 0)
                try client.setKeepAlive(true)
                try client.setKeepAlivePeriod(.seconds(42))
                #expect(try Self.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1)
                #expect(try Self.option(fd, tcp, TCP_KEEPIDLE) == 42)
                #expect(try Self.option(fd, tcp, TCP_KEEPINTVL) == 42)
                try client.setKeepAlive(true, idle: .milliseconds(300))  // rounds up to the kernel's 1 s
                #expect(try Self.option(fd, tcp, TCP_KEEPIDLE) == 1)

                try client.setLinger(.seconds(3))
                var l = try Self.linger(fd)
                #expect(l.l_onoff == 1 && l.l_linger == 3)
                try client.setLinger(nil)
                l = try Self.linger(fd)
                #expect(l.l_onoff == 0)

                // The kernel doubles what it is given (for its own bookkeeping).
                try client.setReadBuffer(100_000)
                #expect(try Self.option(fd, SOL_SOCKET, SO_RCVBUF) == 200_000)
                try client.setWriteBuffer(80_000)
                #expect(try Self.option(fd, SOL_SOCKET, SO_SNDBUF) == 160_000)

                // The connection still works after all of that.
                try await client.write([1])
                #expect(try await within(.seconds(5), "read") { try await readFully(server, count: 1) } == [1])
                try await client.close()
                try await server.close()
            }
        }

        static func expectGoDefaults(_ fd: Int32, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let tcp = Int32(IPPROTO_TCP)
            let got = [
                try option(fd, tcp, TCP_NODELAY), try option(fd, SOL_SOCKET, SO_KEEPALIVE),
                try option(fd, tcp, TCP_KEEPIDLE), try option(fd, tcp, TCP_KEEPINTVL),
            ]
            #expect(got == [1, 1, 15, 15], "\(what): TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL", sourceLocation: sourceLocation)
        }

        /// A listener sets Go's connection defaults on itself once and checks on its
        /// first connection that the kernel copied them; later connections take them
        /// on trust. An adopted listener (whose options are not ours to change) sets
        /// them on each connection.
        @Test(arguments: loopConfigs)
        func acceptedConnectionsHaveGoDefaultsFromFirstToLast(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let own = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let (raw, rawPort) = try tcpListener()
                let adopted = try await TCPListener.adopting(raw.raw, group: group)
                raw.close()
                // Left without defaults, as systemd or a parent would pass it.
                #expect(try Self.option(adopted.fd.sysfd, Int32(IPPROTO_TCP), TCP_NODELAY) == 0)
                for (listener, port) in [(own, try #require(own.address?.port)), (adopted, Int(rawPort))] {
                    for i in 0..<3 {
                        async let accepted = listener.accept()
                        let client = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                        let server = try await accepted
                        try Self.expectGoDefaults(server.fd.sysfd, "accepted connection \(i) on port \(port)")
                        // Changing one connection's options leaves the next one's alone.
                        try server.setNoDelay(false)
                        try server.setKeepAlivePeriod(.seconds(40))
                        try await server.close()
                        try await client.close()
                    }
                }
                #expect(try Self.option(adopted.fd.sysfd, Int32(IPPROTO_TCP), TCP_NODELAY) == 0)
                try await own.close()
                try await adopted.close()
            }
        }

        @Test(arguments: loopConfigs)
        func lingerZeroResetsThePeerOnClose(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setLinger(.zero)
                let l = try Self.linger(client.fd.sysfd)
                #expect(l.l_onoff == 1 && l.l_linger == 0)
                try await client.close()
                // Not end of stream: a reset.
                try await expectNetError(.system("read", ECONNRESET), "read after the peer's abortive close") {
                    _ = try await server.read(maxCount: 16)
                }
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func unixAndUDPBufferSizesReadBack(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                var fds: [Int32] = [-1, -1]
                _ = try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &fds))
                defer { Glibc.close(fds[0]); Glibc.close(fds[1]) }
                let unix = try await UnixConn.adopting(fds[0], group: group)
                try unix.setReadBuffer(50_000)
                try unix.setWriteBuffer(60_000)
                #expect(try Self.option(unix.fd.sysfd, SOL_SOCKET, SO_RCVBUF) == 100_000)
                #expect(try Self.option(unix.fd.sysfd, SOL_SOCKET, SO_SNDBUF) == 120_000)
                try await unix.close()
                let udp = try await UDPConn.listen(group: group)
                try udp.setReadBuffer(70_000)
                try udp.setWriteBuffer(30_000)
                #expect(try Self.option(udp.fd.sysfd, SOL_SOCKET, SO_RCVBUF) == 140_000)
                #expect(try Self.option(udp.fd.sysfd, SOL_SOCKET, SO_SNDBUF) == 60_000)
                try await udp.close()
            }
        }
    }
}
