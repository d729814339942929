import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.NetTests {
    /// The connection-level counters of ``LoopStats`` (issue 12: what NetpollMetrics
    /// exports): connections accepted and dialled, reads, writes and their bytes,
    /// and failed operations by kind, summed over the group.
    @Suite struct ConnStatisticsTests {
        @Test(arguments: loopConfigs)
        func connectionsBytesAndOperationsAreCounted(config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let before = group.statistics
                let client = try await TCPConn.connect(host: "127.0.0.1", port: port, group: group)
                let server = try await listener.accept()

                try await client.write([UInt8](repeating: 7, count: 1000))
                try await client.write([UInt8](repeating: 8, count: 24))
                var got = 0
                while got < 1024 {
                    got += try await server.readBorrowed { $0.count }
                }
                let s = group.statistics
                #expect(s.connectionsAccepted - before.connectionsAccepted == 1)
                #expect(s.connectionsDialed - before.connectionsDialed == 1)
                #expect(s.writes - before.writes == 2)
                #expect(s.bytesWritten - before.bytesWritten == 1024)
                #expect(s.bytesRead - before.bytesRead == 1024)
                #expect(s.reads - before.reads >= 1)
                #expect(s.reads - before.reads <= 2)

                try await client.close()
                try await server.close()
                try await listener.close()
            }
        }

        @Test(arguments: loopConfigs)
        func failedOperationsAreCountedByKind(config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let client = try await TCPConn.connect(host: "127.0.0.1", port: port, group: group)
                let server = try await listener.accept()
                let before = group.statistics

                // A deadline that passes.
                try server.setReadDeadline(.now + .milliseconds(20))
                await #expect(throws: NetpollError.deadlineExceeded) { _ = try await server.read(maxCount: 16) }
                // A cancelled read.
                try server.setReadDeadline(nil)
                let reader = Task { _ = try await server.read(maxCount: 16) }
                try await Task.sleep(for: .milliseconds(20))
                reader.cancel()
                await #expect(throws: CancellationError.self) { try await reader.value }
                // A reset: the peer closes with unread data (RST), the next read fails.
                try await client.write([1, 2, 3])
                try await Task.sleep(for: .milliseconds(20))
                var linger = linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(server.fd.sysfd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                try await server.close()
                try client.setReadDeadline(.now + .seconds(5))
                await #expect(throws: NetpollError.system("read", ECONNRESET)) { _ = try await client.read(maxCount: 16) }
                // Use after close.
                await #expect(throws: NetpollError.netClosing) { _ = try await server.read(maxCount: 16) }

                let s = group.statistics
                #expect(s.errors(.timeout) - before.errors(.timeout) == 1)
                #expect(s.errors(.cancelled) - before.errors(.cancelled) == 1)
                #expect(s.errors(.reset) - before.errors(.reset) == 1)
                #expect(s.errors(.closed) - before.errors(.closed) == 1)
                #expect(s.errors(.other) == before.errors(.other))

                try await client.close()
                try await listener.close()
            }
        }
    }
}
