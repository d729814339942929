import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Conn.waitReadable: waits for input without reading it (golang/go#15735), and
// ends as a read would on a deadline, close and cancellation.

extension SerializedTests.FDTests {
    @Suite struct WaitReadableTests {
        @Test(arguments: loopConfigs)
        func returnsOnInputAndAtEndOfStreamAndReadsNothing(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let returned = Flag()
                let waiter = Task {
                    try await server.waitReadable()
                    returned.set()
                }
                try await Task.sleep(for: .milliseconds(50))
                #expect(!returned.isSet, "waitReadable returned with nothing to read")
                try await client.write(Array("abc".utf8))
                try await within(.seconds(5), "waitReadable after input") { try await waiter.value }
                // Nothing was consumed: the read gets every byte.
                #expect(try await readFully(server, count: 3) == Array("abc".utf8))

                // Input already queued: returns at once, twice (it takes nothing).
                try await client.write([7])
                try await Task.sleep(for: .milliseconds(20))
                try await within(.seconds(5), "waitReadable with input queued") { try await server.waitReadable() }
                try await within(.seconds(5), "waitReadable again") { try await server.waitReadable() }
                #expect(try await server.read(maxCount: 10) == [7])

                // A short read just drained the queue: the wait needs the next arrival.
                let second = Task { try await server.waitReadable() }
                try await Task.sleep(for: .milliseconds(50))
                try await client.close()
                try await within(.seconds(5), "waitReadable at end of stream") { try await second.value }
                #expect(try await server.read(maxCount: 10) == [])
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func endsOnReadDeadlineCloseAndCancellation(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try server.setReadDeadline(.now + .milliseconds(100))
                try await expectNetError(.deadlineExceeded, "waitReadable past its deadline") { try await server.waitReadable() }
                try server.setReadDeadline(nil)

                let cancelled = Task { try await server.waitReadable() }
                try await Task.sleep(for: .milliseconds(50))
                cancelled.cancel()
                await #expect(throws: CancellationError.self) {
                    try await within(.seconds(5), "cancelled waitReadable") { try await cancelled.value }
                }

                // Still usable after both: input wakes a new wait.
                try await client.write([1])
                try await within(.seconds(5), "waitReadable after cancellation") { try await server.waitReadable() }
                #expect(try await server.read(maxCount: 10) == [1])

                // A late event for the byte just read may end one wait early (allowed:
                // see FD.waitReadable), so wait again until the close ends it.
                let closed = Task { while true { try await server.waitReadable() } }
                try await Task.sleep(for: .milliseconds(50))
                try await server.close()
                try await expectNetError(.netClosing, "waitReadable on a closed connection") { try await closed.value }
                try await client.close()
            }
        }
    }
}
