import SystemPackage
import Testing
@testable import Netpoll

// listener.connections and conn.inbound (AsyncSequences.swift): everything in order,
// an end when the listener closes or the stream ends, a clean end on cancellation,
// errors thrown, and no read-ahead.

extension SerializedTests.NetTests {
    @Suite struct AsyncSequenceTests {
        /// Every connection is handed out, and the iteration ends when the listener closes.
        @Test(arguments: loopConfigs)
        func connectionsEndWhenTheListenerCloses(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let accepting = Task { () -> [UInt8] in
                    var firstBytes: [UInt8] = []
                    for try await conn in listener.connections {
                        let b = try await readFully(conn, count: 1)
                        firstBytes += b
                        try await conn.close()
                    }
                    return firstBytes
                }
                for i in 0..<3 {
                    let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    try await c.write([UInt8(i)])
                    // Served one at a time: the server closes, we see end of stream.
                    #expect(try await within(.seconds(5), "connection \(i) served") { try await c.read(maxCount: 1) } == [])
                    try await c.close()
                }
                try await listener.close()
                let got = try await within(.seconds(5), "the iteration's end") { try await accepting.value }
                #expect(got == [0, 1, 2])
            }
        }

        /// Cancelling the iterating task ends the iteration without an error.
        @Test(arguments: loopConfigs)
        func connectionsEndOnCancellation(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let accepting = Task { () -> Int in
                    var n = 0
                    for try await conn in listener.connections {
                        n += 1
                        try await conn.close()
                    }
                    return n
                }
                try await Task.sleep(for: .milliseconds(30))
                accepting.cancel()
                #expect(try await within(.seconds(5), "the cancelled iteration") { try await accepting.value } == 0)
                try await listener.close()
            }
        }

        /// Chunks of at most chunkSize, in order, every byte, then the end.
        @Test(arguments: loopConfigs)
        func inboundYieldsEveryByteThenEnds(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let message = (0..<150_000).map { patternByte(77, $0) }
                let writing = Task {
                    try await client.write(message.span)
                    try client.closeWrite()
                }
                let (bytes, largest) = try await within(.seconds(20), "the inbound bytes") { () -> ([UInt8], Int) in
                    var all: [UInt8] = []
                    var largest = 0
                    for try await chunk in server.inbound(chunkSize: 1000) {
                        #expect(!chunk.isEmpty)
                        largest = max(largest, chunk.count)
                        all += chunk
                    }
                    return (all, largest)
                }
                try await writing.value
                #expect(bytes == message)
                #expect(largest <= 1000)
                try await client.close()
                try await server.close()
            }
        }

        /// One chunk per step, nothing read ahead: what the iteration did not ask
        /// for is still there for a plain read.
        @Test(arguments: loopConfigs)
        func inboundReadsNothingAhead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let message = (0..<10).map { patternByte(3, $0) }
                try await client.write(message)
                try await Task.sleep(for: .milliseconds(20))  // all ten are in
                var chunks = server.inbound(chunkSize: 4).makeAsyncIterator()
                let first = try await within(.seconds(5), "one chunk") {
                    var it = server.inbound(chunkSize: 4).makeAsyncIterator()
                    return try await it.next()
                }
                // At most one chunk's worth: fewer is a short read, which a stream may
                // give (scripts/test-faults injects them), more would be read-ahead.
                let taken = try #require(first)
                #expect(!taken.isEmpty && taken.count <= 4 && taken == Array(message[..<taken.count]), "first chunk \(taken)")
                let left = message.count - taken.count
                let rest = try await within(.seconds(5), "the rest, by a plain read") { try await readFully(server, count: left) }
                #expect(rest == Array(message[taken.count...]))
                try await client.close()
                #expect(try await chunks.next() == nil, "end of stream ends the iteration")
                try await server.close()
            }
        }

        /// A reset peer is an error the iteration throws (ECONNRESET, as swift-system's
        /// Errno too), never a silent end.
        @Test(arguments: loopConfigs)
        func inboundThrowsAReset(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try client.setLinger(.zero)
                try await client.close()  // RST
                let outcome = await outcome(of: Task { () -> Int in
                    var n = 0
                    for try await chunk in server.inbound { n += chunk.count }
                    return n
                }, within: .seconds(5), "iterating a reset connection")
                switch outcome {
                case .success(let n): Issue.record("the iteration ended without an error after \(n) bytes")
                case .failure(let e as NetpollError):
                    #expect(e.systemErrno == .connectionReset, "got \(e)")
                case .failure(let e): Issue.record("got \(e)")
                }
                try await server.close()
            }
        }

        /// Cancelling a task waiting in the iteration ends it without an error.
        @Test(arguments: loopConfigs)
        func inboundEndsOnCancellation(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let reading = Task { () -> Int in
                    var n = 0
                    for try await chunk in server.inbound { n += chunk.count }
                    return n
                }
                try await waitUntil("the iteration waits") { server.fd.pd.readParked }
                reading.cancel()
                #expect(try await within(.seconds(5), "the cancelled iteration") { try await reading.value } == 0)
                // The connection still works after the iteration stopped.
                try await client.write([42])
                #expect(try await within(.seconds(5), "a read after") { try await readFully(server, count: 1) } == [42])
                try await client.close()
                try await server.close()
            }
        }
    }
}
