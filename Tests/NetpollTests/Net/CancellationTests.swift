import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Swift's counterpart of Go's "close to unblock": cancelling the task that waits.
// A cancelled read ends with CancellationError and leaves the connection usable.

extension DescriptorTests.NetTests {
    @Suite struct CancellationTests {
        @Test(arguments: loopConfigs)
        func cancellingABlockedReadEndsItAndTheConnStillWorks(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let reader = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(50))  // let it park
                reader.cancel()
                do {
                    let got = try await within(.seconds(5), "cancelled read") { try await reader.value }
                    Issue.record("cancelled read returned \(got)")
                } catch is CancellationError {
                    // expected
                } catch {
                    Issue.record("cancelled read threw \(error), expected CancellationError")
                }

                // The read lock and the PollDesc are free again: data sent afterwards arrives.
                try await server.write(Array("after".utf8))
                let got = try await within(.seconds(5), "read after cancellation") { try await readFully(client, count: 5) }
                #expect(got == Array("after".utf8))

                // Cancel again, now with a read deadline pending: still a cancellation, and
                // the later timer firing does no harm.
                try client.setReadDeadline(.now + .milliseconds(300))
                let reader2 = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(50))
                reader2.cancel()
                await #expect(throws: CancellationError.self) { _ = try await within(.seconds(5), "second cancelled read") { try await reader2.value } }
                try await Task.sleep(for: .milliseconds(400))
                try client.setReadDeadline(nil)
                try await server.write([1])
                #expect(try await within(.seconds(5), "read after the old deadline") { try await client.read(maxCount: 10) } == [1])

                // Writes were never affected.
                try await client.write([2])
                #expect(try await within(.seconds(5), "peer read") { try await server.read(maxCount: 10) } == [2])
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func cancellingABlockedAcceptEndsIt(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let acceptor = Task { try await listener.accept() }
                try await Task.sleep(for: .milliseconds(50))
                acceptor.cancel()
                await #expect(throws: CancellationError.self) {
                    let c = try await within(.seconds(5), "cancelled accept") { try await acceptor.value }
                    try? await c.close()
                }
                // The listener still accepts.
                async let dialled = TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                let accepted = try await within(.seconds(5), "accept after cancellation") { try await listener.accept() }
                try await dialled.close()
                try await accepted.close()
                try await listener.close()
            }
        }
    }
}
