import Netpoll
import Testing

extension ExampleTests {
    /// EchoServer echoes every byte, on many connections at once.
    @Suite struct EchoServerTests {
        @Test(arguments: backends)
        func everyByteComesBackOnEveryConnection(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            let server = try ExampleProcess("EchoServer", backend: backend)
            let group = try LoopGroup(loops: 1, backend: .epoll)
            defer { group.shutdown() }
            let port = server.port
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for i in 0..<20 {
                    clients.addTask {
                        let client = try await Client(port: port, group: group)
                        let message = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
                        try await client.conn.write(message)
                        #expect(try await client.read(count: message.count) == message)
                        try await client.conn.close()
                    }
                }
                try await clients.waitForAll()
            }
            #expect(server.isRunning)
        }
    }
}
