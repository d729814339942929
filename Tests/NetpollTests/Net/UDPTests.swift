import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/udpsock_test.go (TestUDPConnSpecificMethods, TestUDPZeroBytePayload,
// TestUDPReadSizeError-like truncation), net/timeout_test.go for packet conns, and
// net/packetconn_test.go's echo over every address family.

extension SerializedTests.NetTests {
    @Suite struct UDPTests {
        /// Echoes every datagram back to its sender until the socket is closed.
        static func echo(_ server: UDPConn) async throws {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
            defer { buf.deallocate() }
            while true {
                let r: ReceivedDatagram
                do { r = try await server.readFrom(into: buf) } catch NetpollError.netClosing { return }
                try await server.writeTo(UnsafeRawBufferPointer(rebasing: buf[0..<r.count]), address: r.sender)
            }
        }

        /// Datagram `seq`: its number (8 bytes, little endian), then pattern bytes; 8 to 1407 bytes.
        static func datagram(_ seq: Int) -> [UInt8] {
            let size = 8 + (seq &* 7919) % 1400
            var d = withUnsafeBytes(of: UInt64(seq).littleEndian) { Array($0) }
            d.reserveCapacity(size)
            for i in 8..<size { d.append(patternByte(UInt64(seq), i)) }
            return d
        }

        /// Sends `count` numbered datagrams through `client` with at most `window` in
        /// flight (loopback drops nothing while no socket buffer overflows, and a
        /// bounded window keeps both queues far below their size), verifies each
        /// echo byte for byte and that every number came back exactly once.
        static func windowedEcho(_ client: UDPConn, count: Int, window: Int = 32) async throws {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
            defer { buf.deallocate() }
            var seen = [Bool](repeating: false, count: count)
            var sent = 0
            var received = 0
            while sent < min(window, count) {
                try await client.write(datagram(sent))
                sent += 1
            }
            while received < count {
                let r = try await client.read(into: buf)
                #expect(!r.isTruncated)
                let bytes = Array(buf[0..<r.count])
                let seq = Int(UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
                guard seq >= 0 && seq < count, !seen[seq] else {
                    Issue.record("unexpected or repeated datagram \(seq)")
                    return
                }
                #expect(bytes == datagram(seq), "datagram \(seq) differs")
                seen[seq] = true
                received += 1
                if sent < count {
                    try await client.write(datagram(sent))
                    sent += 1
                }
            }
        }

        @Test(arguments: loopConfigs)
        func tenThousandDatagramsEchoedAndVerified(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let server = try await UDPConn.listen(host: "127.0.0.1", port: 0, group: group)
                let address = try #require(server.localAddress)
                let serving = Task { try await Self.echo(server) }
                let client = try await UDPConn.connect(to: address, group: group)
                #expect(client.remoteAddress == address)
                try await within(.seconds(60), "10,000 datagrams echoed") {
                    try await Self.windowedEcho(client, count: 10_000)
                }
                try await client.close()
                try await server.close()
                try await within(.seconds(5), "echo loop ends on close") { try await serving.value }
            }
        }

        /// `netpoll echo-server --udp`: two loops, one socket each on the port; two
        /// clients (SO_REUSEPORT spreads them by address) echo 10,000 datagrams in all.
        @Test(arguments: loopConfigs)
        func theCLIsUDPEchoServerEchoesTenThousandDatagrams(_ config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            let server = try NetpollProcess(["echo-server", "--udp", "--loops", "2"], environment: config.environment)
            let port = try server.listeningPort()
            try await withNetGroup(config) { group in
                let address = try SocketAddress(ip: "127.0.0.1", port: port)
                try await within(.seconds(60), "10,000 datagrams through netpoll echo-server --udp") {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        for _ in 0..<2 {
                            g.addTask {
                                let client = try await UDPConn.connect(to: address, group: group)
                                do {
                                    try await Self.windowedEcho(client, count: 5_000)
                                } catch {
                                    try? await client.close()
                                    throw error
                                }
                                try await client.close()
                            }
                        }
                        try await g.waitForAll()
                    }
                }
            }
            #expect(server.reap() == .stillRunning, "echo-server \(server.status): \(server.stderrText())")
            server.signal(SIGTERM)
            #expect(server.wait(within: .seconds(20)) == .exited(0), "stderr: \(server.stderrText())")
            let stats = server.readLine(within: .seconds(2)) ?? ""
            #expect(stats.contains("\"datagrams_echoed\":10000"), "\(stats)")
        }

        @Test(arguments: loopConfigs)
        func ipv6EchoAndReadFromNamesTheSender(_ config: PollerConfig) async throws {
            guard EchoTests.ipv6LoopbackUsable() else {
                print("skipped: \(config.name): ::1 cannot be bound here (no IPv6 loopback)")
                return
            }
            try await withNetGroup(config) { group in
                let server = try await UDPConn.listen(host: "::1", port: 0, group: group)
                let address = try #require(server.localAddress)
                #expect(address.host == "::1")
                let client = try await UDPConn.listen(host: "::1", port: 0, group: group)
                let clientAddress = try #require(client.localAddress)
                #expect(client.remoteAddress == nil, "an unconnected socket has no peer")

                try await client.writeTo(Array("hello".utf8), address: address)
                nonisolated(unsafe) let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 1)
                defer { buf.deallocate() }
                let r = try await within(.seconds(5), "readFrom") { try await server.readFrom(into: buf) }
                #expect(Array(buf[0..<r.count]) == Array("hello".utf8))
                #expect(r.sender == clientAddress, "sender \(r.sender), client bound to \(clientAddress)")
                try await server.writeTo(UnsafeRawBufferPointer(rebasing: buf[0..<r.count]), address: r.sender)
                let back = try await within(.seconds(5), "echo back") { try await client.readFrom(into: buf) }
                #expect(back.sender == address)
                #expect(Array(buf[0..<back.count]) == Array("hello".utf8))

                // A few hundred more through the windowed echo, on IPv6.
                let serving = Task { try await Self.echo(server) }
                let connected = try await UDPConn.connect(to: address, group: group)
                try await within(.seconds(30), "IPv6 windowed echo") { try await Self.windowedEcho(connected, count: 500) }
                try await connected.close()
                try await client.close()
                try await server.close()
                try await within(.seconds(5), "echo loop ends") { try await serving.value }
            }
        }

        @Test(arguments: loopConfigs)
        func aDatagramLargerThanTheBufferIsReportedTruncated(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let server = try await UDPConn.listen(group: group)
                let client = try await UDPConn.connect(to: try #require(server.localAddress), group: group)
                let big = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
                try await client.write(big)
                try await client.write([7, 8, 9])
                try await client.write([UInt8]())  // a zero-length datagram

                nonisolated(unsafe) let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
                defer { small.deallocate() }
                let r = try await within(.seconds(5), "read of the large datagram") { try await server.readFrom(into: small) }
                #expect(r.isTruncated)
                #expect(r.count == 100)
                #expect(r.length == 1000, "the datagram's real size")
                #expect(Array(small[0..<100]) == Array(big[0..<100]))
                // The rest was discarded: the next read is the next datagram, whole.
                let next = try await within(.seconds(5), "next datagram") { try await server.readFrom(into: small) }
                #expect(!next.isTruncated && next.count == 3 && next.length == 3)
                #expect(Array(small[0..<3]) == [7, 8, 9])
                // Zero bytes: a datagram, not end of stream.
                let empty = try await within(.seconds(5), "empty datagram") { try await server.readFrom(into: small) }
                #expect(empty.count == 0 && !empty.isTruncated)
                #expect(empty.sender == client.localAddress)
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aConnectedSocketOnlyHearsItsPeer(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let server = try await UDPConn.listen(group: group)
                let stranger = try await UDPConn.listen(group: group)
                let client = try await UDPConn.connect(to: try #require(server.localAddress), group: group)
                let clientAddress = try #require(client.localAddress)
                try await stranger.writeTo([0xee], address: clientAddress)  // dropped by the kernel
                try await server.writeTo([1, 2], address: clientAddress)
                nonisolated(unsafe) let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                defer { buf.deallocate() }
                let r = try await within(.seconds(5), "read from the peer") { try await client.read(into: buf) }
                #expect(Array(buf[0..<r.count]) == [1, 2])
                #expect(r.sender == server.localAddress)
                // writeTo on a connected socket is refused, as in Go.
                try await expectNetError(.system("sendto", EISCONN), "writeTo on a connected socket") {
                    try await client.writeTo([1], address: try #require(stranger.localAddress))
                }
                try await client.close()
                try await stranger.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func readDeadlinesCancellationAndCloseEndABlockedRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let conn = try await UDPConn.listen(group: group)
                let peer = try await UDPConn.connect(to: try #require(conn.localAddress), group: group)
                nonisolated(unsafe) let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                defer { buf.deallocate() }
                nonisolated(unsafe) let shared = buf

                // A past deadline fails at once, even with a datagram queued.
                try await peer.write([1])
                try await Task.sleep(for: .milliseconds(20))
                try conn.setReadDeadline(.now - .seconds(1))
                try await expectNetError(.deadlineExceeded, "read with a past deadline") { _ = try await conn.readFrom(into: shared) }
                // A future one fails no earlier than it passes.
                try conn.setReadDeadline(nil)
                _ = try await within(.seconds(5), "queued datagram") { try await conn.readFrom(into: shared) }
                let start = ContinuousClock.now
                try conn.setReadDeadline(.now + .milliseconds(150))
                try await expectNetError(.deadlineExceeded, "read with a future deadline") { _ = try await conn.readFrom(into: shared) }
                #expect(ContinuousClock.now - start >= .milliseconds(150))
                try conn.setReadDeadline(nil)

                // Cancellation ends a parked read and leaves the socket usable.
                let reader = Task { try await conn.readFrom(into: shared) }
                try await Task.sleep(for: .milliseconds(50))
                reader.cancel()
                await #expect(throws: CancellationError.self) { _ = try await within(.seconds(5), "cancelled read") { try await reader.value } }
                try await peer.write([2])
                let r = try await within(.seconds(5), "read after cancellation") { try await conn.readFrom(into: shared) }
                #expect(r.count == 1 && shared[0] == 2)

                // A write deadline in the past fails a write that could go out.
                try peer.setWriteDeadline(.now - .seconds(1))
                try await expectNetError(.deadlineExceeded, "write with a past deadline") { try await peer.write([3]) }
                try peer.setWriteDeadline(nil)

                // Close ends a blocked read with netClosing.
                let blocked = Task { try await conn.readFrom(into: shared) }
                try await Task.sleep(for: .milliseconds(50))
                try await conn.close()
                try await expectNetError(.netClosing, "read ended by close") { _ = try await blocked.value }
                try await peer.close()
            }
        }
    }
}
