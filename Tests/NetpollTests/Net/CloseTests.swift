import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/net_test.go TestCloseRead/TestCloseWrite, TestConnClose, TestListenerClose,
// TestZeroByteRead, and internal/poll's close semantics (a blocked operation ends with
// ErrNetClosing; a second Close fails).

extension SerializedTests.NetTests {
    @Suite struct CloseTests {
        @Test(arguments: loopConfigs)
        func blockedReadEndsWithNetClosingWhenConnIsClosed(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let reader = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(50))  // let it park
                try await within(.seconds(5), "close of a conn with a blocked read") { try await client.close() }
                try await expectNetError(.netClosing, "blocked read after close") { _ = try await reader.value }
                try await expectNetError(.netClosing, "second close") { try await client.close() }
                try await expectNetError(.netClosing, "read after close") { _ = try await client.read(maxCount: 1) }
                try await expectNetError(.netClosing, "write after close") { try await client.write([1, 2, 3]) }
                // The peer sees the FIN: close really closed the socket.
                let eof = try await within(.seconds(5), "peer reads EOF") { try await server.read(maxCount: 10) }
                #expect(eof.isEmpty)
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func blockedAcceptEndsWithNetClosingWhenListenerIsClosed(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let acceptor = Task { try await listener.accept() }
                try await Task.sleep(for: .milliseconds(50))
                try await within(.seconds(5), "listener close") { try await listener.close() }
                try await expectNetError(.netClosing, "blocked accept after close") {
                    let c = try await acceptor.value
                    try? await c.close()
                }
                try await expectNetError(.netClosing, "second listener close") { try await listener.close() }
            }
        }

        @Test(arguments: loopConfigs)
        func closeWriteGivesPeerEOFWhileTheOtherDirectionWorks(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try await client.write(Array("request".utf8))
                try client.closeWrite()
                let got = try await within(.seconds(5), "read request") { try await readFully(server, count: 7) }
                #expect(got == Array("request".utf8))
                let eof = try await within(.seconds(5), "EOF after closeWrite") { try await server.read(maxCount: 100) }
                #expect(eof.isEmpty, "peer must read EOF (0) after closeWrite")

                // Server → client still flows.
                try await server.write(Array("response".utf8))
                let back = try await within(.seconds(5), "read response") { try await readFully(client, count: 8) }
                #expect(back == Array("response".utf8))
                try await expectNetError(.system("send", EPIPE), "write after closeWrite") { try await client.write([1]) }

                // closeRead: our own reads end at once with EOF.
                try server.closeRead()
                let own = try await within(.seconds(5), "read after closeRead") { try await server.read(maxCount: 100) }
                #expect(own.isEmpty, "read after closeRead returns EOF")

                try await client.close()
                try await server.close()
                // Shutdown on a closed conn is the closed error, not EBADF.
                #expect(throws: NetpollError.netClosing) { try client.closeWrite() }
            }
        }

        @Test(arguments: loopConfigs)
        func zeroByteReadReturnsZeroImmediately(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                // Nothing is buffered, so a read that waited would hang here.
                let n = try await within(.seconds(2), "zero-byte read") {
                    try await client.read(into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
                }
                #expect(n == 0)
                let empty = try await within(.seconds(2), "read(maxCount: 0)") { try await client.read(maxCount: 0) }
                #expect(empty.isEmpty)
                // With data buffered it is still 0 and consumes nothing.
                try await server.write([42])
                try await waitUntil(within: .seconds(5), "byte arrives") { Self.peekable(client.fd.sysfd) }
                #expect(try await client.read(maxCount: 0).isEmpty)
                #expect(try await within(.seconds(2), "read the byte") { try await client.read(maxCount: 10) } == [42])
                try await client.close()
                try await server.close()
            }
        }

        static func peekable(_ fd: Int32) -> Bool {
            var b: UInt8 = 0
            return recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 1
        }
    }
}
