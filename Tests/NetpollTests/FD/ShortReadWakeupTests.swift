import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Issue 10: after a short read on a stream socket the next read waits for the next
// arrival's event without first calling read(2) for EAGAIN (FD.receiveQueueDrained).
// A lost wakeup there is a hang, so every case is bounded; each hammers the window
// between a short read and the park from another loop's thread, on every backend.

extension SerializedTests.FDTests {
    @Suite struct ShortReadWakeupTests {
        /// Echoes with a 64 KiB buffer, far larger than any message here, so almost
        /// every read is short.
        static func echo(_ conn: some Conn) async throws {
            try await SerializedTests.NetTests.EchoTests.echo(conn)
        }

        /// Reads until `count` bytes are in, each read asking for more than that, so
        /// the last one is short (the drained hint is set). More than one read: TCP
        /// keeps no write's boundaries (fault injection's short counts split them).
        static func readShort(_ conn: some Conn, count: Int) async throws -> [UInt8] {
            var got: [UInt8] = []
            while got.count < count {
                let chunk = try await conn.read(maxCount: 100)
                if chunk.isEmpty { break }
                got += chunk
            }
            return got
        }

        /// Round trips of 1 to 3,000 bytes, sizes drawn from `seed`.
        static func pingPong(_ client: some Conn, rounds: Int, seed: UInt64) async throws {
            var rng = SplitMix(seed: seed)
            try await NetpollTests.pingPong(client, rounds: rounds) { _ in Int.random(in: 1...3000, using: &rng) }
        }

        @Test(arguments: loopConfigs)
        func tcpPingPongWithShortReadsLosesNoWakeupAndSkipsTheEAGAINRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let before = group.statistics.ioSyscalls
                let serving = Task(executorPreference: server.loop) { try await Self.echo(server) }
                let rounds = 3000
                try await within(.seconds(60), "\(rounds) round trips with short reads") {
                    try await Self.pingPong(client, rounds: rounds, seed: 1)
                }
                // Each round trip costs write + read(data) on both sides; without the
                // skip each side also pays read → EAGAIN before it parks (6 in all).
                // readFully may split a message, so allow some slack, never 6. (Not
                // under fault injection, whose EAGAINs and short counts add calls.)
                let perRoundTrip = Double(group.statistics.ioSyscalls - before) / Double(rounds)
                #expect(perRoundTrip < 5.5 || faultInjectionIsOn, "I/O syscalls per round trip: \(perRoundTrip)")
                try client.closeWrite()
                try await within(.seconds(5), "echo sees end of stream") { try await serving.value }
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func unixPingPongWithShortReadsLosesNoWakeup(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let path = uniqueUnixPath("short")
                let listener = try await UnixListener.listen(path: path, group: group)
                async let accepted = listener.accept()
                let client = try await UnixConn.connect(path: path, timeout: .seconds(5), group: group)
                let server = try await accepted
                try await listener.close()
                let serving = Task(executorPreference: server.loop) { try await Self.echo(server) }
                try await within(.seconds(60), "unix round trips with short reads") {
                    try await Self.pingPong(client, rounds: 2000, seed: 2)
                }
                try client.closeWrite()
                try await within(.seconds(5), "echo sees end of stream") { try await serving.value }
                try await client.close()
                try await server.close()
            }
        }

        /// A writer on another loop dribbles small chunks with random gaps, so arrivals
        /// land anywhere around the reader's short read and its park.
        @Test(arguments: loopConfigs)
        func dribbledArrivalsAroundEveryParkAreAllRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let total = 400_000
                let writing = Task(executorPreference: client.loop) {
                    var rng = SplitMix(seed: 3)
                    var sent = 0
                    while sent < total {
                        let n = min(total - sent, Int.random(in: 1...700, using: &rng))
                        try await client.write((sent..<sent + n).map { patternByte(9, $0) })
                        sent += n
                        switch Int.random(in: 0..<8, using: &rng) {
                        case 0: try await Task.sleep(for: .microseconds(Int.random(in: 1...200, using: &rng)))
                        case 1, 2: await Task.yield()
                        default: break
                        }
                    }
                    try client.closeWrite()
                }
                let received = try await within(.seconds(60), "\(total) dribbled bytes") {
                    var got = 0
                    var intact = true
                    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
                    defer { buf.deallocate() }
                    while true {
                        let n = try await server.read(into: buf)
                        if n == 0 { break }
                        for i in 0..<n where buf[i] != patternByte(9, got + i) { intact = false }
                        got += n
                    }
                    return (got, intact)
                }
                try await writing.value
                #expect(received.0 == total)
                #expect(received.1, "bytes out of order or corrupted")
                try await client.close()
                try await server.close()
            }
        }

        /// The case that must never skip: data and FIN (or RST) arrive together, so the
        /// short read stops before the FIN and no event follows it. Fresh connections,
        /// each read with the borrowed-buffer read and the plain one.
        @Test(arguments: loopConfigs)
        func dataThenHangUpIsSeenAfterAShortRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                for i in 0..<150 {
                    let (client, server) = try await tcpConnPair(group: group)
                    let reset = i % 3 == 2
                    let msg = (0..<(1 + i * 7 % 900)).map { patternByte(UInt64(i), $0) }
                    try await client.write(msg)
                    if reset { try setLingerZero(client.fd.sysfd) }
                    try await client.close()
                    let ended = try await within(.seconds(5), "connection \(i): end after data") { () async throws -> Bool in
                        var got: [UInt8] = []
                        do {
                            while true {
                                let chunk: [UInt8]
                                if i % 2 == 0 {
                                    chunk = try await server.readBorrowed { Array($0) }
                                } else {
                                    chunk = try await server.read(maxCount: 65536)
                                }
                                if chunk.isEmpty { break }
                                got += chunk
                            }
                        } catch let e as NetpollError where e.errno == ECONNRESET {
                            return reset  // a reset may discard unread data
                        }
                        return got == msg
                    }
                    #expect(ended, "connection \(i): wrong bytes before the end")
                    try await server.close()
                }
            }
        }

        /// The drained hint set by a short read must not survive a readv: a readv that
        /// leaves bytes queued, then a read, must get those bytes without a new event.
        @Test(arguments: loopConfigs)
        func readvAfterAShortReadLeavesNoStaleHint(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try await client.write([1, 2, 3])
                #expect(try await Self.readShort(server, count: 3) == [1, 2, 3])  // short: hint set
                try await client.write(Array(10..<20))
                try await Task.sleep(for: .milliseconds(50))  // the event is taken meanwhile
                let first4 = try await within(.seconds(5), "readv") { () async throws -> [UInt8] in
                    let a = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
                    defer { a.deallocate() }
                    let n = try await server.fd.readv([a])
                    return Array(a[0..<n])
                }
                #expect(first4 == [10, 11, 12, 13])
                let rest = try await within(.seconds(5), "read of the bytes readv left queued") {
                    try await Self.readShort(server, count: 6)
                }
                #expect(rest == Array(14..<20))
                try await client.close()
                try await server.close()
            }
        }

        /// Our own shutdown(SHUT_RD) after a short read: the next read sees end of
        /// stream (the shutdown wakes the socket like a peer's FIN).
        @Test(arguments: loopConfigs)
        func closeReadAfterAShortReadEndsTheNextRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try await client.write([7, 7])
                #expect(try await Self.readShort(server, count: 2) == [7, 7])  // short: hint set
                try server.closeRead()
                let eof = try await within(.seconds(5), "read after closeRead") { try await server.read(maxCount: 100) }
                #expect(eof.isEmpty)
                try await client.close()
                try await server.close()
            }
        }
    }
}
