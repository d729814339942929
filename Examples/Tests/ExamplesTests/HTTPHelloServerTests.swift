import Netpoll
import Testing

extension ExampleTests {
    /// HTTPHelloServer: keep-alive, pipelining, `Connection: close`, HTTP/1.0 and a
    /// malformed request.
    @Suite struct HTTPHelloServerTests {
        static let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
        static let closing = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!"

        @Test(arguments: backends)
        func keepAliveConnectionsAnswerEveryRequestInOrder(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            let server = try ExampleProcess("HTTPHelloServer", backend: backend)
            let group = try LoopGroup(loops: 1, backend: .epoll)
            defer { group.shutdown() }
            let get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

            // Keep-alive: many requests, one connection.
            let client = try await Client(port: server.port, group: group)
            for _ in 0..<50 {
                try await client.send(get)
                #expect(String(decoding: try await client.read(count: Self.response.utf8.count), as: UTF8.self) == Self.response)
            }
            // Pipelined, one of them with a body, split across writes mid-head.
            let pipelined = get + "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + get
            let cut = pipelined.utf8.count / 2
            try await client.conn.write(Array(pipelined.utf8.prefix(cut)))
            try await Task.sleep(for: .milliseconds(20))
            try await client.conn.write(Array(pipelined.utf8.dropFirst(cut)))
            let three = String(decoding: try await client.read(count: 3 * Self.response.utf8.count), as: UTF8.self)
            #expect(three == String(repeating: Self.response, count: 3))

            // Connection: close is answered, then the server closes.
            try await client.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(String(decoding: try await client.read(count: Self.closing.utf8.count), as: UTF8.self) == Self.closing)
            #expect(try await client.readsEndOfStream())
            try await client.conn.close()

            // HTTP/1.0 without keep-alive closes too.
            let old = try await Client(port: server.port, group: group)
            try await old.send("GET / HTTP/1.0\r\n\r\n")
            #expect(String(decoding: try await old.read(count: Self.closing.utf8.count), as: UTF8.self) == Self.closing)
            #expect(try await old.readsEndOfStream())
            try await old.conn.close()

            // A malformed request line: 400, then closed.
            let bad = try await Client(port: server.port, group: group)
            try await bad.send("nonsense\r\n\r\n")
            let reply = String(decoding: try await bad.read(count: 12), as: UTF8.self)
            #expect(reply == "HTTP/1.1 400")
            try await bad.conn.close()
            #expect(server.isRunning)
        }
    }
}
