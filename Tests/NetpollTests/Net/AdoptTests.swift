import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/file_test.go (TestFileConn, TestFileListener, TestFilePacketConn): a
// descriptor made elsewhere becomes a working connection or listener, the caller's
// descriptor stays open and usable, and a descriptor of the wrong kind is refused.

extension SerializedTests.NetTests {
    @Suite struct AdoptTests {
        static func isNonblocking(_ fd: Int32) -> Bool { fcntl(fd, F_GETFL) & O_NONBLOCK != 0 }

        @Test(arguments: loopConfigs)
        func aSocketpairBecomesTwoUnixConnections(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                var fds: [Int32] = [-1, -1]
                // Blocking on purpose: adopting must make them non-blocking.
                _ = try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &fds))
                let a = OwnedFD(fds[0]), b = OwnedFD(fds[1])
                defer { a.close(); b.close() }
                let left = try await UnixConn.adopting(a.raw, group: group)
                let right = try await UnixConn.adopting(b.raw, group: group)
                #expect(left.fd.sysfd != a.raw, "the connection owns a duplicate")
                #expect(Self.isNonblocking(left.fd.sysfd))
                #expect(left.fd.isStream, "the short-read hint applies to an adopted stream socket")
                try await left.write(Array("ping".utf8))
                #expect(try await within(.seconds(5), "read") { try await readFully(right, count: 4) } == Array("ping".utf8))
                // A blocked read on the adopted side is woken by the poller.
                let pong = Task { try await readFully(left, count: 4) }
                try await Task.sleep(for: .milliseconds(20))
                try await right.write(Array("pong".utf8))
                #expect(try await within(.seconds(5), "blocked read") { try await pong.value } == Array("pong".utf8))
                // Unix-specific calls work on an adopted pair: the peer is this process.
                let cred = try left.peerCredentials
                #expect(cred.pid == getpid() && cred.uid == getuid())
                try await left.close()
                try await right.close()
                // The caller's descriptors are still open (closed by the defer).
                #expect(fcntl(a.raw, F_GETFD) >= 0 && fcntl(b.raw, F_GETFD) >= 0)
            }
        }

        @Test(arguments: loopConfigs)
        func anInheritedTCPListenerAcceptsAndItsConnectionsWork(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (raw, port) = try tcpListener()  // blocking, as a parent or systemd would pass it
                let listener = try await TCPListener.adopting(raw.raw, group: group)
                raw.close()  // the caller is done with its own copy, as after systemd's LISTEN_FDS
                #expect(listener.address?.port == Int(port))
                let serving = Task { try await listener.serve { conn in try await EchoTests.echo(conn) } }
                let conn = try await TCPConn.connect(host: "127.0.0.1", port: Int(port), timeout: .seconds(5), group: group)
                let ok = try await within(.seconds(10), "echo through the adopted listener") {
                    try await EchoTests.roundTrip(conn, NetPatternStream(seed: 12), offset: 0, count: 100_000)
                }
                #expect(ok)
                // And a dialled TCP connection adopted from its raw descriptor.
                let rawClient = try tcpSocket()
                try withSockaddr(loopback(port: port)) { _ = try check("connect", Glibc.connect(rawClient.raw, $0, $1)) }
                let adopted = try await TCPConn.adopting(rawClient.raw, group: group)
                rawClient.close()
                #expect(Self.isNonblocking(adopted.fd.sysfd))
                try await adopted.write([9, 8, 7])
                #expect(try await within(.seconds(5), "echo") { try await readFully(adopted, count: 3) } == [9, 8, 7])
                try await adopted.close()
                try await conn.close()
                try await listener.close()
                try await within(.seconds(10), "serve returns") { try await serving.value }
            }
        }

        @Test(arguments: loopConfigs)
        func anAdoptedUnixListenerLeavesItsFileAndAnAdoptedUDPSocketEchoes(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath("adopt")
                defer { unlink(path) }
                let owner = try await UnixListener.listen(path: path, group: group)
                let adopted = try await UnixListener.adopting(owner.fd.sysfd, group: group)
                #expect(adopted.path == path)
                try await adopted.close()
                #expect(fileExists(path), "closing an adopted listener keeps its creator's file")
                let accepted = Task { try await owner.accept() }
                let client = try await UnixConn.connect(path: path, timeout: .seconds(5), group: group)
                let server = try await within(.seconds(5), "accept on the original") { try await accepted.value }
                try await client.close()
                try await server.close()
                try await owner.close()

                let udpRaw = OwnedFD(try check("socket", socket(AF_INET, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)))
                defer { udpRaw.close() }
                var sa = loopback(port: 0)
                try withSockaddr(sa) { _ = try check("bind", bind(udpRaw.raw, $0, $1)) }
                sa.sin_port = try localPort(udpRaw.raw).bigEndian
                let udp = try await UDPConn.adopting(udpRaw.raw, group: group)
                let peer = try await UDPConn.connect(to: try #require(udp.localAddress), group: group)
                try await peer.write([1, 2, 3])
                nonisolated(unsafe) let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
                defer { buf.deallocate() }
                let r = try await within(.seconds(5), "adopted UDP read") { try await udp.readFrom(into: buf) }
                #expect(r.count == 3 && r.sender == peer.localAddress)
                try await udp.close()
                try await peer.close()
            }
        }

        @Test(arguments: loopConfigs)
        func theWrongKindOfDescriptorIsRefusedAndNothingLeaks(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                // Not a socket.
                let (r, w) = try makePipe()
                defer { Glibc.close(r); Glibc.close(w) }
                try await expectNetError(.system("getsockopt(SO_TYPE)", ENOTSOCK), "adopt a pipe") {
                    let c = try await TCPConn.adopting(r, group: group)
                    try? await c.close()
                }
                // Closed.
                let closed = try check("socket", socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
                Glibc.close(closed)
                try await expectNetError(.system("getsockopt(SO_TYPE)", EBADF), "adopt a closed descriptor") {
                    let c = try await TCPConn.adopting(closed, group: group)
                    try? await c.close()
                }
                // A listener where a connection is expected, and the other way round.
                let (listening, _) = try tcpListener()
                defer { listening.close() }
                await #expect(throws: NetpollError.self) { _ = try await TCPConn.adopting(listening.raw, group: group) }
                do {
                    _ = try await TCPConn.adopting(listening.raw, group: group)
                } catch let e as NetpollError {
                    guard case .invalidDescriptor(let why) = e else { Issue.record("got \(e)"); return }
                    #expect(why.contains("listening IPv4 stream") && why.contains("expected a connected TCP socket"), "\(why)")
                }
                let unbound = try tcpSocket()
                defer { unbound.close() }
                await #expect(throws: NetpollError.self) { _ = try await TCPListener.adopting(unbound.raw, group: group) }
                // The wrong family or type.
                let (ua, ub) = try makeSocketPair()
                defer { Glibc.close(ua); Glibc.close(ub) }
                await #expect(throws: NetpollError.self) { _ = try await TCPConn.adopting(ua, group: group) }
                await #expect(throws: NetpollError.self) { _ = try await UDPConn.adopting(ua, group: group) }
                await #expect(throws: NetpollError.self) { _ = try await UnixListener.adopting(ua, group: group) }
            }
        }
    }
}
