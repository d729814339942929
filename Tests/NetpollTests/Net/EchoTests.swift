import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/server_test.go TestTCPServer / TestUnixAndUnixpacketServer (echo over every
// address family), net/tcpsock_test.go TestTCPConcurrentAccept-like fan-in, and the
// scheduler's spreading of accepted connections over Ps (here: the group's loops).

extension SerializedTests.NetTests {
    @Suite struct EchoTests {
        /// Echoes until EOF.
        static func echo(_ conn: some Conn) async throws {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
            defer { buf.deallocate() }
            while true {
                let n = try await conn.read(into: buf)
                if n == 0 { return }
                try await conn.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            }
        }

        /// Sends `count` pattern bytes from `offset` of `stream` while reading the echo
        /// back; true when every byte came back in order.
        static func roundTrip(_ conn: some Conn, _ stream: NetPatternStream, offset: Int, count: Int) async throws -> Bool {
            async let sent: Void = {
                var done = 0
                while done < count {
                    let n = min(count - done, NetPatternStream.maxChunk)
                    try await conn.write(stream.slice(at: offset + done, count: n))
                    done += n
                }
            }()
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
            defer { buf.deallocate() }
            var got = 0
            var ok = true
            while got < count {
                let n = try await conn.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<min(buf.count, count - got)]))
                if n == 0 { ok = false; break }
                if memcmp(buf.baseAddress!, stream.slice(at: offset + got, count: n).baseAddress!, n) != 0 { ok = false }
                got += n
            }
            try await sent
            return ok
        }

        @Test(arguments: loopConfigs)
        func thousandConcurrentEchoConnectionsWithRandomSizes(_ config: PollerConfig) async throws {
            let clients = 1000
            guard config.canRunHere(descriptors: 2 * clients + 64) else { return }
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let serving = Task { try await listener.serve { conn in try await Self.echo(conn) } }
                let stream = NetPatternStream(seed: 0xec40)
                let connected = Counter()
                let verified = Counter()
                let bytes = Counter()

                try await within(.seconds(180), "\(clients) echo clients") {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        for i in 0..<clients {
                            g.addTask {
                                var rng = SplitMix(seed: UInt64(i) &* 7919 &+ 1)
                                let conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(30), group: group)
                                connected.add()
                                do {
                                    for m in 0..<3 {
                                        if m == 1 {
                                            // Every connection open at once before going on.
                                            try await waitUntil(within: .seconds(60), "all \(clients) connected") {
                                                connected.value == clients
                                            }
                                        }
                                        let size = Int(rng.next() % 65536) + 1
                                        let offset = Int(rng.next() % UInt64(NetPatternStream.period))
                                        if try await Self.roundTrip(conn, stream, offset: offset, count: size) {
                                            verified.add()
                                        } else {
                                            Issue.record("client \(i) message \(m) (\(size) B): echo differs")
                                        }
                                        bytes.add(size)
                                    }
                                } catch {
                                    try? await conn.close()
                                    throw error
                                }
                                try await conn.close()
                            }
                        }
                        try await g.waitForAll()
                    }
                }
                let loaded = verified.value
                #expect(loaded == 3 * clients)
                try await listener.close()
                try await within(.seconds(10), "serve returns after listener close") { try await serving.value }
                print("\(config.name): \(clients) connections, \(bytes.value) bytes echoed; \(group.statistics)")
            }
        }

        @Test(arguments: loopConfigs)
        func ipv6LoopbackEcho(_ config: PollerConfig) async throws {
            guard Self.ipv6LoopbackUsable() else {
                print("skipped: \(config.name): ::1 cannot be bound here (no IPv6 loopback)")
                return
            }
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "::1", port: 0, group: group)
                let address = try #require(listener.address)
                #expect(address.host == "::1")
                let serving = Task { try await listener.serve { conn in try await Self.echo(conn) } }
                let conn = try await TCPConn.connect(to: SocketAddress(parsing: "[::1]:\(address.port ?? 0)"), timeout: .seconds(5), group: group)
                #expect(conn.remoteAddress?.description == "[::1]:\(address.port ?? 0)")
                #expect(conn.localAddress?.host == "::1")
                let stream = NetPatternStream(seed: 6)
                let ok = try await within(.seconds(10), "IPv6 echo") { try await Self.roundTrip(conn, stream, offset: 0, count: 200_000) }
                #expect(ok)
                try await conn.close()
                try await listener.close()
                try await within(.seconds(10), "serve returns") { try await serving.value }
            }
        }

        static func ipv6LoopbackUsable() -> Bool {
            let s = socket(AF_INET6, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { return false }
            defer { Glibc.close(s) }
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_addr = in6addr_loopback
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            } == 0
        }

        @Test(arguments: loopConfigs)
        func unixSocketEchoAndListenerCloseRemovesTheFile(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath(config.name)
                defer { unlink(path) }
                let listener = try await UnixListener.listen(path: path, group: group)
                #expect(fileExists(path), "the socket file exists while listening")
                #expect(listener.address == (try SocketAddress(parsing: "unix:\(path)")))
                let serving = Task { try await listener.serve { conn in try await Self.echo(conn) } }
                let conn = try await UnixConn.connect(path: path, timeout: .seconds(5), group: group)
                let stream = NetPatternStream(seed: 7)
                let ok = try await within(.seconds(10), "Unix echo") { try await Self.roundTrip(conn, stream, offset: 5, count: 300_000) }
                #expect(ok)
                try await conn.close()
                try await listener.close()
                try await within(.seconds(10), "serve returns") { try await serving.value }
                #expect(!fileExists(path), "listener close removes \(path)")
                // Dialling the removed path fails cleanly.
                try await expectNetError(.system("connect", ENOENT), "dial removed path") {
                    let c = try await UnixConn.connect(path: path, group: group)
                    try? await c.close()
                }
            }
        }

        @Test(arguments: loopConfigs)
        func acceptSpreadsEvenWhenDialsShareTheGroup(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                // Dial and accept alternate on one group: each takes a loop, and the
                // accepted side must still cover more than one loop.
                var pairs: [(TCPConn, TCPConn)] = []
                for _ in 0..<6 {
                    let dialed = try await within(.seconds(5), "dial") {
                        try await TCPConn.connect(host: "127.0.0.1", port: port, group: group)
                    }
                    let accepted = try await within(.seconds(5), "accept") { try await listener.accept() }
                    pairs.append((dialed, accepted))
                }
                let indices = Set(pairs.map { $0.1.loop.index })
                #expect(indices.count == group.loops.count, "accepted connections only on loop(s) \(indices)")
                for (d, a) in pairs {
                    try await d.close()
                    try await a.close()
                }
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func acceptSpreadsConnectionsOverTheGroupsLoops(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                // Raw clients, so that only accept takes loops from the group's round-robin.
                var raws: [OwnedFD] = []
                defer { for r in raws { r.close() } }
                var indices: [Int] = []
                var conns: [TCPConn] = []
                for _ in 0..<8 {
                    let s = try tcpSocket()
                    try withSockaddr(loopback(port: UInt16(port))) { try check("connect", Glibc.connect(s.raw, $0, $1)) }
                    raws.append(s)
                    let c = try await within(.seconds(5), "accept") { try await listener.accept() }
                    conns.append(c)
                    indices.append(c.loop.index)
                }
                #expect(Set(indices).count > 1, "all accepted connections landed on loop(s) \(Set(indices)) of \(group.loops.count)")
                // Each accepted connection really works on its loop.
                for (c, r) in zip(conns, raws) {
                    try await c.write([1, 2])
                    var b = [UInt8](repeating: 0, count: 2)
                    #expect(recv(r.raw, &b, 2, Int32(MSG_WAITALL)) == 2 && b == [1, 2])
                }
                for c in conns { try await c.close() }
                try await listener.close()
            }
        }
    }
}
