import Netpoll
import Testing

extension ExampleTests {
    /// HTTPHelloServer seen from a client: framing, limits, refusals and keep-alive
    /// (HTTPParserTests has the parser's cases one by one).
    @Suite struct HTTPHelloServerTests {
        static let response = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
        static let closing = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!"
        static let badRequest = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        static let headTooLarge = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        static let bodyTooLarge = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
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
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",  // a coding it cannot undo
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  // a bad chunk size
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\rInjected: b\r\n\r\n",  // a bare CR inside a header line
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\nInjected: b\r\n\r\n",  // a bare LF inside a header line
            "GET / HTTP/1.1\nHost: a\n",  // LF line ends: refused without waiting for a blank line
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
        func aChunkedBodyWithTrailersIsSkippedAndTheNextRequestAnswered(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                // In pieces, a chunk extension, and chunk data that looks like a request.
                try await client.send("5;ext=1\r\nhello\r\n")
                try await client.send("\(String(Self.get.utf8.count, radix: 16))\r\n\(Self.get)\r\n")
                try await client.send("4000\r\n" + String(repeating: "x", count: 0x4000) + "\r\n")
                try await client.send("0\r\nX-Checksum: 1\r\n\r\n" + Self.get)
                try await Self.expectAnswer(client, Self.response + Self.response)
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                try await Self.expectAnswer(client, Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func pipelinedRequestsWithBodiesAreEachAnsweredOnce(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // One write: four requests (two with bodies of each framing), then one that closes.
                try await client.send(
                    Self.get
                        + "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
                        + "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
                        + Self.get
                        + "GET /5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                // Exactly four keep-alive answers and the closing one: none lost, none twice.
                try await Self.expectAnswer(client, String(repeating: Self.response, count: 4) + Self.closing)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func aHeadOverTheLimitGets431AndIsClosed(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // Never ended: refused once it passes 64 KiB, not left to grow.
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "v", count: 70_000))
                try await Self.expectAnswer(client, Self.headTooLarge)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func aHeadAtTheLimitIsAnswered(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                let head = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: "
                try await client.send(head + String(repeating: "v", count: 65536 - head.utf8.count - 4) + "\r\n\r\n")
                try await Self.expectAnswer(client)
            }
        }

        @Test(arguments: backends)
        func aContentLengthOverTheLimitGets413AndIsClosed(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // Answered on the head alone, while the client holds its body back.
                try await client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n")
                try await Self.expectAnswer(client, Self.bodyTooLarge)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func a413ReachesAClientThatIsStillSending(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                // The server refuses on the head with 256 KiB of body unread behind it: it
                // must drain them, not close into them (a reset could destroy the answer).
                try await client.send(
                    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n" + String(repeating: "x", count: 262_144))
                try await Self.expectAnswer(client, Self.bodyTooLarge)
                #expect(try await client.readsEndOfStream())
            }
        }

        @Test(arguments: backends)
        func aChunkedBodyOverTheLimitGets413AndIsClosed(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            try await Self.connect(backend) { client in
                try await client.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                // 1 MiB in chunks is accepted so far; one byte more is not.
                for _ in 0..<16 { try await client.send("10000\r\n" + String(repeating: "x", count: 0x10000) + "\r\n") }
                try await client.send("1\r\n")
                try await Self.expectAnswer(client, Self.bodyTooLarge)
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
