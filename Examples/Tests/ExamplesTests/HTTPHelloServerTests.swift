import Netpoll
import Testing

extension ExampleTests {
    /// HTTPHelloServer: its request-head parser and keep-alive, seen from a client.
    @Suite struct HTTPHelloServerTests {
        static let response = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
        static let closing = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!"
        static let badRequest = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        static let get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

        /// The server on `backend` and one client connected to it.
        static func connect(_ backend: Backend.Kind, _ body: (Client) async throws -> Void) async throws {
            let server = try ExampleProcess("HTTPHelloServer", backend: backend)
            let group = try LoopGroup(loops: 1, backend: .epoll)
            defer { group.shutdown() }
            let client = try await Client(port: server.port, group: group)
            try await body(client)
            try await client.conn.close()
            #expect(server.isRunning)
        }

        static func expectAnswer(_ client: Client, _ expected: String = response, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let reply = String(decoding: try await client.read(count: expected.utf8.count), as: UTF8.self)
            #expect(reply == expected, sourceLocation: sourceLocation)
        }

        @Test(arguments: backends)
        func keepAliveAnswersManyRequestsOnOneConnection(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                for _ in 0..<50 {
                    try await client.send(Self.get)
                    try await Self.expectAnswer(client)
                }
            }
        }

        @Test(arguments: backends)
        func twoPipelinedRequestsAreBothAnswered(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send(Self.get + "GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n")
                try await Self.expectAnswer(client, Self.response + Self.response)
            }
        }

        @Test(arguments: backends)
        func aRequestBodyIsSkippedAndTheNextRequestAnswered(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // A body that looks like a request must not be taken for one: two answers, not three.
                let body = Self.get
                try await client.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                try await Self.expectAnswer(client)
                // A body larger than the head limit, in pieces, then the next request.
                try await client.send("POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: 100000\r\n\r\n")
                for _ in 0..<10 { try await client.send(String(repeating: "x", count: 10_000)) }
                try await client.send(Self.get)
                try await Self.expectAnswer(client, Self.response + Self.response)
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                try await Self.expectAnswer(client, Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func connectionCloseClosesAfterTheResponse(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // The request after it is never answered.
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n" + Self.get)
                try await Self.expectAnswer(client, Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func closeWinsOverKeepAliveInOneConnectionHeader(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\n\r\n")
                try await Self.expectAnswer(client, Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func http10WithoutKeepAliveClosesAfterTheResponse(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send("GET / HTTP/1.0\r\n\r\n")
                try await Self.expectAnswer(client, Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func http10WithKeepAliveStaysOpen(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            let keptAlive = Self.response.replacingOccurrences("\r\n\r\n", with: "\r\nConnection: keep-alive\r\n\r\n")
            try await Self.connect(backend) { client in
                for _ in 0..<2 {
                    try await client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    try await Self.expectAnswer(client, keptAlive)
                }
            }
        }

        @Test(arguments: backends, [
            "nonsense\r\n\r\n",  // no method, target, version
            "GET /\r\n\r\n",  // no version
            "GET / HTTP/2.0\r\n\r\n",  // not HTTP/1.x
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",  // two spaces
            "GET / HTTP/1.1\r\nHost localhost\r\n\r\n",  // a header without a colon
            "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",  // a space before the colon
            "GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n folded\r\n\r\n",  // a folded line
            "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",  // HTTP/1.1 without Host
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ])
        func aMalformedRequestGets400AndIsClosed(backend: Backend.Kind, request: String) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send(request)
                try await Self.expectAnswer(client, Self.badRequest)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func headersSplitAcrossReadsStillParse(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // Cut after a header name, then between CR and LF of the blank line.
                let request = Array("GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n".utf8)
                for piece in [request[..<20], request[20..<(request.count - 1)], request[(request.count - 1)...]] {
                    try await client.conn.write(Array(piece))
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Self.expectAnswer(client)
            }
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
