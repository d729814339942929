import SystemPackage
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// swift-system's FileDescriptor and Errno at the API's edge (SystemInterop.swift).

extension SerializedTests.NetTests {
    @Suite struct SystemInteropTests {
        /// Both ends of a socketpair adopted as FileDescriptors talk; the caller's
        /// descriptors stay open; `descriptor` is the socket's own.
        @Test(arguments: loopConfigs)
        func aSocketpairAdoptedAsFileDescriptors(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                var fds: [Int32] = [-1, -1]
                _ = try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &fds))
                let a = FileDescriptor(rawValue: fds[0]), b = FileDescriptor(rawValue: fds[1])
                defer {
                    try? a.close()
                    try? b.close()
                }
                let left = try await UnixConn.adopting(a, group: group)
                let right = try await UnixConn.adopting(b, group: group)
                #expect(left.descriptor.rawValue == left.fd.sysfd)
                #expect(left.descriptor != a, "a duplicate is adopted")
                try await left.write(Array("hello".utf8))
                #expect(try await within(.seconds(5), "read") { try await readFully(right, count: 5) } == Array("hello".utf8))
                try await left.close()
                try await right.close()
                #expect(fcntl(a.rawValue, F_GETFD) >= 0, "the caller's descriptor is still open")
            }
        }

        /// A file opened with swift-system is sent with sendFile(FileDescriptor):
        /// the bytes arrive exactly, from the offset asked for.
        @Test(arguments: loopConfigs)
        func sendFileFromAFileDescriptor(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = FilePath("/tmp/netpoll-sendfile-\(getpid())-\(config.name)")
                let file = try FileDescriptor.open(
                    path, .readWrite, options: [.create, .truncate], permissions: [.ownerReadWrite])
                defer {
                    try? file.close()
                    unlink(path.description)
                }
                let content = (0..<100_000).map { patternByte(11, $0) }
                _ = try file.writeAll(content)
                let (client, server) = try await tcpConnPair(group: group)
                let reading = Task { try await readFully(client, count: 100_000 - 1000) }
                let sent = try await within(.seconds(10), "sendFile") {
                    try await server.sendFile(file, offset: 1000)
                }
                #expect(sent == Int64(100_000 - 1000))
                #expect(try await reading.value == Array(content[1000...]))
                try await client.close()
                try await server.close()
            }
        }

        @Test func systemErrorsCarryTheirErrno() {
            #expect(NetpollError.system("read", ECONNRESET).systemErrno == .connectionReset)
            #expect(NetpollError.system("accept", EMFILE).systemErrno == .tooManyOpenFiles)
            #expect(NetpollError.netClosing.systemErrno == nil)
        }
    }
}
