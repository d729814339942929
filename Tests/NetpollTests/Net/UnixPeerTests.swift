import CNetpollTestSupport
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Who may connect to a Unix socket, and who did: SO_PEERCRED (Go: unix.GetsockoptUcred
// on a UnixConn's raw conn), a listener's file mode in force before the first client,
// and Linux abstract-namespace names (Go: net/unixsock_linux_test.go
// TestUnixAutobind / TestUnixAbstract).

extension SerializedTests.NetTests {
    @Suite struct UnixPeerTests {
        /// nobody/nogroup: another user whenever the tests run as root.
        static let otherUID: UInt32 = 65534
        static let otherGID: UInt32 = 65534

        /// A client in a child process under `uid`/`gid` dialling `address` (see
        /// cnp_test_spawn_unix_client). Returns its pid.
        static func spawnClient(to address: SocketAddress, uid: UInt32, gid: UInt32) throws -> Int32 {
            let pid = address.storage.withSockaddr { sa, len in
                cnp_test_spawn_unix_client(sa, UInt32(len), uid, gid)
            }
            if pid < 0 { throw NetpollError.system("fork", -pid) }
            return pid
        }

        /// Polls the child until it exits and returns its status.
        static func reap(_ pid: Int32) async throws -> Int32 {
            let end = ContinuousClock.now + .seconds(10)
            while true {
                let s = cnp_test_child_exit_status(pid, 1)
                if s != -EAGAIN { return s }
                if ContinuousClock.now >= end {
                    kill(pid, SIGKILL)
                    _ = cnp_test_child_exit_status(pid, 0)
                    Issue.record("client process \(pid) did not exit within 10 s")
                    return -1
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }

        @Test func abstractAddressesRoundTripThroughTheKernelForm() throws {
            let a = try SocketAddress(unixPath: "@svc")
            #expect(a.isAbstract)
            let s = a.storage
            // A leading NUL and no terminator: the length ends the name.
            #expect(Int(s.length) == MemoryLayout<sa_family_t>.size + 4)
            #expect(withUnsafeBytes(of: s.storage) { Array($0[2..<6]) } == [0, 0x73, 0x76, 0x63])
            #expect(SocketAddress(s) == a)
            #expect(try SocketAddress(unixPath: "/tmp/x.sock").isAbstract == false)
            #expect(throws: NetpollError.self) { try SocketAddress(unixPath: "@") }
            #expect(throws: NetpollError.self) { try SocketAddress(unixPath: "@" + String(repeating: "n", count: 107)) }
        }

        @Test(arguments: loopConfigs)
        func bothEndsSeeThisProcessAsTheirPeer(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath("cred")
                defer { unlink(path) }
                let listener = try await UnixListener.listen(path: path, group: group)
                let accepted = Task { try await listener.accept() }
                let client = try await UnixConn.connect(path: path, timeout: .seconds(5), group: group)
                let server = try await within(.seconds(5), "accept") { try await accepted.value }
                let expected = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
                #expect(try server.peerCredentials == expected)
                #expect(try client.peerCredentials == expected)
                try await client.close()
                try await server.close()
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aClientRunningAsAnotherUserIsSeenAsThatUser(_ config: PollerConfig) async throws {
            guard getuid() == 0 else {
                print("skipped: \(config.name): needs root to run a client as uid \(Self.otherUID) (running as uid \(getuid()))")
                return
            }
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath("uid")
                defer { unlink(path) }
                // 0o666: anyone may connect, so the other user gets in.
                let listener = try await UnixListener.listen(path: path, mode: 0o666, group: group)
                let address = try #require(listener.address)
                let pid = try Self.spawnClient(to: address, uid: Self.otherUID, gid: Self.otherGID)
                let server: UnixConn
                do {
                    server = try await within(.seconds(10), "accept the other user's client") { try await listener.accept() }
                } catch {
                    kill(pid, SIGKILL)
                    _ = try await Self.reap(pid)
                    throw error
                }
                #expect(try await within(.seconds(5), "its byte") { try await readFully(server, count: 1) } == [UInt8(ascii: "x")])
                let cred = try server.peerCredentials
                #expect(cred == PeerCredentials(pid: pid, uid: Self.otherUID, gid: Self.otherGID), "\(cred)")
                try await server.close()  // the child sees EOF and exits
                #expect(try await Self.reap(pid) == 0)
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func theModeIsInForceBeforeAnyClientConnects(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath("mode")
                defer { unlink(path) }
                let listener = try await UnixListener.listen(path: path, mode: 0o600, group: group)
                var st = stat()
                _ = try check("stat", stat(path, &st))
                #expect(st.st_mode & S_IFMT == S_IFSOCK)
                #expect(st.st_mode & 0o7777 == 0o600, "mode \(String(st.st_mode & 0o7777, radix: 8))")
                if getuid() == 0 {
                    // Another user is refused by the file's mode; nothing was accepted.
                    let pid = try Self.spawnClient(to: try #require(listener.address), uid: Self.otherUID, gid: Self.otherGID)
                    #expect(try await Self.reap(pid) == EACCES, "the other user's connect must fail with EACCES")
                } else {
                    print("skipped: \(config.name): refusing another user needs root to run as uid \(Self.otherUID)")
                }
                // The owner still gets in.
                let accepted = Task { try await listener.accept() }
                let client = try await UnixConn.connect(path: path, timeout: .seconds(5), group: group)
                let server = try await within(.seconds(5), "accept the owner") { try await accepted.value }
                #expect(try server.peerCredentials.uid == getuid())
                try await client.close()
                try await server.close()
                try await listener.close()
                // A mode makes no sense for an abstract name: a clear error, nothing opened.
                try await expectNetError(
                    .invalidAddress("@x: an abstract socket has no file, so no mode; anyone in the network namespace may connect"),
                    "mode on an abstract name"
                ) {
                    let l = try await UnixListener.listen(path: "@x", mode: 0o600, group: group)
                    try? await l.close()
                }
            }
        }

        @Test(arguments: loopConfigs)
        func abstractNamesListenConnectAndLeaveNoFile(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let name = "@netpoll-test-\(getpid())-\(config.name)-\(UInt32.random(in: 0...UInt32.max))"
                let listener = try await UnixListener.listen(path: name, group: group)
                #expect(listener.address?.description == "unix:\(name)")
                #expect(listener.address?.isAbstract == true)
                if getuid() == 0 {
                    // No permissions in the abstract namespace: another user connects too.
                    let pid = try Self.spawnClient(to: try SocketAddress(unixPath: name), uid: Self.otherUID, gid: Self.otherGID)
                    let other = try await within(.seconds(10), "accept the other user's client") { try await listener.accept() }
                    #expect(try await within(.seconds(5), "its byte") { try await readFully(other, count: 1) } == [UInt8(ascii: "x")])
                    #expect(try other.peerCredentials.uid == Self.otherUID)
                    try await other.close()
                    #expect(try await Self.reap(pid) == 0)
                }
                let serving = Task { try await listener.serve { conn in try await EchoTests.echo(conn) } }
                let client = try await UnixConn.connect(path: name, timeout: .seconds(5), group: group)
                #expect(client.remoteAddress == (try SocketAddress(unixPath: name)))
                try await client.write(Array("abstract".utf8))
                #expect(try await within(.seconds(5), "echo") { try await readFully(client, count: 8) } == Array("abstract".utf8))
                try await client.close()
                try await listener.close()
                try await within(.seconds(10), "serve returns") { try await serving.value }
                // Gone with the socket: the name can be dialled no more.
                try await expectNetError(.system("connect", ECONNREFUSED), "dial a closed abstract name") {
                    let c = try await UnixConn.connect(path: name, group: group)
                    try? await c.close()
                }
            }
        }
    }
}
