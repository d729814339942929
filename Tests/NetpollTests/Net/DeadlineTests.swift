import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/timeout_test.go — TestAcceptTimeout, TestReadTimeout, TestWriteTimeout (a
// past deadline fails even when the operation could proceed), TestReadTimeoutMustNotReturn
// (a cleared deadline blocks until close), TestVariousDeadlines (a future deadline fails
// no earlier than it passes) and TestReadTimeoutFluctuation (a deadline set from another
// goroutine wakes a blocked read).

extension SerializedTests.NetTests {
    @Suite struct DeadlineTests {
        static let past = Duration.seconds(-1)
        static let soon = Duration.milliseconds(150)

        // MARK: accept

        @Test(arguments: loopConfigs)
        func acceptWithPastDeadlineFailsEvenWithAPendingConnection(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let raw = try tcpSocket()
                try withSockaddr(loopback(port: UInt16(port))) { try check("connect", Glibc.connect(raw.raw, $0, $1)) }
                try await Task.sleep(for: .milliseconds(20))  // the handshake completed: accept could succeed

                // The Listener API has no deadline setter; the FD's is Go's TCPListener.SetDeadline.
                try listener.setDeadline(.now + Self.past)
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "accept with a past deadline") {
                    let c = try await listener.accept()
                    try? await c.close()
                }
                try listener.setDeadline(nil)
                let conn = try await within(.seconds(5), "accept after clearing the deadline") { try await listener.accept() }
                try await conn.close()
                raw.close()
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func acceptWithFutureDeadlineFailsAfterItPasses(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let start = ContinuousClock.now
                try listener.setDeadline(.now + Self.soon)
                try await expectNetError(.deadlineExceeded, "accept with a future deadline") {
                    let c = try await listener.accept()
                    try? await c.close()
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= Self.soon, "accept timed out after \(elapsed), before its deadline \(Self.soon)")
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func acceptWithPastThenClearedDeadlineBlocksUntilClose(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                try listener.setDeadline(.now + Self.past)
                try listener.setDeadline(nil)
                let finished = Flag()
                let acceptor = Task {
                    defer { finished.set() }
                    let c = try await listener.accept()
                    try? await c.close()
                }
                try await Task.sleep(for: .milliseconds(200))
                let loaded = finished.isSet
                #expect(!loaded, "accept returned although the deadline was cleared")
                try await listener.close()
                try await expectNetError(.netClosing, "accept ended by close") { try await acceptor.value }
            }
        }

        // MARK: read

        @Test(arguments: loopConfigs)
        func readWithPastDeadlineFailsEvenWithDataReady(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try await server.write(Array("ready".utf8))
                try await waitUntil(within: .seconds(5), "data buffered") { CloseTests.peekable(client.fd.sysfd) }

                try client.setReadDeadline(.now + Self.past)
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "read with a past deadline") {
                    _ = try await client.read(maxCount: 10)
                }
                // Again: the expired deadline is sticky until changed.
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "second read") {
                    _ = try await client.read(maxCount: 10)
                }
                // Writes are unaffected by a read deadline.
                try await within(.seconds(5), "write with only a read deadline") { try await client.write([1]) }

                try client.setReadDeadline(nil)
                let got = try await within(.seconds(5), "read after clearing") { try await readFully(client, count: 5) }
                #expect(got == Array("ready".utf8), "the data was not consumed by the timed-out reads")
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func readWithFutureDeadlineFailsAfterItPasses(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let start = ContinuousClock.now
                try client.setReadDeadline(start + Self.soon)
                try await expectNetError(.deadlineExceeded, "read with a future deadline") {
                    _ = try await client.read(maxCount: 10)
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= Self.soon, "read timed out after \(elapsed), before its deadline \(Self.soon)")
                // Extending the deadline makes reads work again.
                try client.setReadDeadline(.now + .seconds(30))
                try await server.write([7])
                #expect(try await within(.seconds(5), "read after extending") { try await client.read(maxCount: 10) } == [7])
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func readWithPastThenClearedDeadlineBlocksUntilClose(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setReadDeadline(.now + Self.past)
                try client.setReadDeadline(nil)
                let finished = Flag()
                let reader = Task {
                    defer { finished.set() }
                    _ = try await client.read(maxCount: 10)
                }
                try await Task.sleep(for: .milliseconds(200))
                let loaded = finished.isSet
                #expect(!loaded, "read returned although the deadline was cleared")
                try await client.close()
                try await expectNetError(.netClosing, "read ended by close") { try await reader.value }
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func deadlineSetFromAnotherTaskWakesABlockedRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                // An expired deadline set while the read is parked.
                let reader = Task { try await client.read(maxCount: 10) }
                try await Task.sleep(for: .milliseconds(50))
                try client.setReadDeadline(.now)
                let start = ContinuousClock.now
                do {
                    _ = try await within(.seconds(2), "read woken by a deadline") { try await reader.value }
                    Issue.record("read succeeded; expected a timeout")
                } catch let e as NetpollError {
                    #expect(e == .deadlineExceeded)
                    #expect(e.isTimeout)
                }
                #expect(ContinuousClock.now - start < .seconds(1))

                // A future deadline set while the read is parked (without one before).
                try client.setReadDeadline(nil)
                let reader2 = Task { try await client.read(maxCount: 10) }
                try await Task.sleep(for: .milliseconds(50))
                let set = ContinuousClock.now
                try client.setReadDeadline(set + .milliseconds(100))
                try await expectNetError(.deadlineExceeded, "read woken by a future deadline") { _ = try await reader2.value }
                #expect(ContinuousClock.now - set >= .milliseconds(100))
                try await client.close()
                try await server.close()
            }
        }

        // MARK: write

        @Test(arguments: loopConfigs)
        func writeWithPastDeadlineFailsEvenWithBufferSpace(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setWriteDeadline(.now + Self.past)
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "write with a past deadline") {
                    try await client.write([1, 2, 3])
                }
                // Reads are unaffected by a write deadline.
                try await server.write([9])
                #expect(try await within(.seconds(5), "read with only a write deadline") { try await client.read(maxCount: 1) } == [9])
                try client.setWriteDeadline(nil)
                try await within(.seconds(5), "write after clearing") { try await client.write([4, 5]) }
                #expect(try await within(.seconds(5), "peer reads") { try await readFully(server, count: 2) } == [4, 5],
                        "the timed-out write sent nothing")
                try await client.close()
                try await server.close()
            }
        }

        /// A write that cannot finish: small buffers and a peer that never reads.
        private static let blockingWriteSize = 32 << 20

        @Test(arguments: loopConfigs)
        func writeWithFutureDeadlineFailsAfterItPasses(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setWriteBuffer(4096)
                try server.setReadBuffer(4096)
                let start = ContinuousClock.now
                try client.setWriteDeadline(start + Self.soon)
                try await expectNetError(.deadlineExceeded, "write into a full buffer with a future deadline") {
                    try await client.write([UInt8](repeating: 0x5a, count: Self.blockingWriteSize))
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= Self.soon, "write timed out after \(elapsed), before its deadline \(Self.soon)")
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func writeWithPastThenClearedDeadlineBlocksUntilClose(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setWriteBuffer(4096)
                try server.setReadBuffer(4096)
                try client.setWriteDeadline(.now + Self.past)
                try client.setWriteDeadline(nil)
                let finished = Flag()
                let writer = Task {
                    defer { finished.set() }
                    try await client.write([UInt8](repeating: 0x5a, count: Self.blockingWriteSize))
                }
                try await Task.sleep(for: .milliseconds(200))
                let loaded = finished.isSet
                #expect(!loaded, "write returned although the deadline was cleared")
                try await client.close()
                try await expectNetError(.netClosing, "write ended by close") { try await writer.value }
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func deadlineSetFromAnotherTaskWakesABlockedWrite(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setWriteBuffer(4096)
                try server.setReadBuffer(4096)
                let writer = Task { try await client.write([UInt8](repeating: 0x5a, count: Self.blockingWriteSize)) }
                try await Task.sleep(for: .milliseconds(100))
                try client.setDeadline(.now)
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "write woken by a deadline") { try await writer.value }
                try await client.close()
                try await server.close()
            }
        }

        /// The `after:` forms: a time from now; zero fails at once, nil clears.
        @Test(arguments: loopConfigs)
        func deadlinesSetAsATimeFromNowBehaveAsInstants(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let start = ContinuousClock.now
                try client.setReadDeadline(after: Self.soon)
                try await expectNetError(.deadlineExceeded, "read with a deadline after 150 ms") {
                    _ = try await client.read(maxCount: 10)
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= Self.soon, "read timed out after \(elapsed), before its deadline \(Self.soon)")
                try client.setReadDeadline(after: nil)
                try await server.write([7])
                #expect(try await within(.seconds(5), "read after clearing") { try await client.read(maxCount: 10) } == [7])

                try client.setWriteDeadline(after: .zero)
                try await expectNetError(.deadlineExceeded, within: .seconds(2), "write with a deadline after zero") {
                    try await client.write([1, 2, 3])
                }
                try client.setDeadline(after: .seconds(30))
                try await within(.seconds(5), "write with a distant deadline") { try await client.write([4, 5]) }
                #expect(try await within(.seconds(5), "peer reads") { try await readFully(server, count: 2) } == [4, 5],
                        "the timed-out write sent nothing")
                try await client.close()
                try await server.close()
            }
        }
    }
}
