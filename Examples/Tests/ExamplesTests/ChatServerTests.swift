import Netpoll
import Testing

extension ExampleTests {
    /// ChatServer relays each line to every other connection; two senders writing
    /// to one receiver at once never interleave mid-line, and each sender's lines
    /// arrive in order.
    @Suite struct ChatServerTests {
        static let lines = 300

        @Test(arguments: backends)
        func linesFromConcurrentSendersArriveWholeAndInOrder(backend: Backend.Kind) async throws {
            guard usable(backend) else { return }
            let server = try ExampleProcess("ChatServer", backend: backend)
            let group = try LoopGroup(loops: 1, backend: .epoll)
            defer { group.shutdown() }

            let receiver = try await Client(port: server.port, group: group)
            #expect(try await receiver.readLine() == "you are user 1")
            let a = try await Client(port: server.port, group: group)
            #expect(try await a.readLine() == "you are user 2")
            let b = try await Client(port: server.port, group: group)
            #expect(try await b.readLine() == "you are user 3")

            // Both send at once, each line in its own write of a random-ish length.
            let padding = String(repeating: "x", count: 200)
            let (connA, connB) = (a.conn, b.conn)
            async let sentA: Void = {
                for i in 0..<Self.lines { try await connA.write(Array("a\(i) \(padding.prefix(i % 200))\n".utf8)) }
            }()
            async let sentB: Void = {
                for i in 0..<Self.lines { try await connB.write(Array("b\(i) \(padding.prefix((i * 7) % 200))\n".utf8)) }
            }()
            try await sentA
            try await sentB

            var next = ["user 2": 0, "user 3": 0]
            for _ in 0..<(2 * Self.lines) {
                let line = try #require(try await receiver.readLine(), "the receiver's stream ended early")
                let (who, text) = try #require(Self.split(line), "a malformed line: \(line.debugDescription)")
                let i = try #require(next[who], "a line from \(who)")
                let tag = who == "user 2" ? "a" : "b"
                let pad = tag == "a" ? i % 200 : (i * 7) % 200
                #expect(text == "\(tag)\(i) \(padding.prefix(pad))", "line \(i) from \(who) out of order or cut")
                next[who] = i + 1
            }
            #expect(next == ["user 2": Self.lines, "user 3": Self.lines])

            // A sees B's lines too (and not its own): the first one is b0.
            #expect(try await a.readLine() == "user 3: b0 ")
            for c in [receiver, a, b] { try await c.conn.close() }
            #expect(server.isRunning)
        }

        /// "user N: text" → ("user N", "text").
        static func split(_ line: String) -> (String, String)? {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(colon, offsetBy: 2)...]))
        }
    }
}
