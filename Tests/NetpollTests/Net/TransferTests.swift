import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/net_test.go TestTCPBig-like transfers through small buffers (partial writes,
// EAGAIN on both sides), TestConcurrentReadWrite-like full duplex on one connection,
// and internal/poll's Readv/Writev (net.Buffers) round trip.

/// A stream of `total` pattern bytes written from a table, verified against the same
/// table: byte `i` of a stream is `table[i % period]`. The period is prime, so a lost,
/// repeated or reordered chunk cannot line up again.
final class NetPatternStream: @unchecked Sendable {  // the table is written once, in init
    static let period = 1_000_003
    static let maxChunk = 256 << 10
    /// period + maxChunk bytes, so any chunk is one contiguous slice.
    let table: UnsafeMutableRawBufferPointer
    /// FNV-1a of the first `period` bytes, for messages.
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        table = .allocate(byteCount: Self.period + Self.maxChunk, alignment: 16)
        for i in 0..<table.count { table[i] = patternByte(seed, i % Self.period) }
    }

    deinit { table.deallocate() }

    func slice(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        precondition(count <= Self.maxChunk)
        let start = offset % Self.period
        return UnsafeRawBufferPointer(rebasing: table[start..<(start + count)])
    }

    /// Writes `total` bytes in chunks of varying size; returns the bytes written.
    func send(_ conn: some Conn, total: Int, chunkSeed: UInt64) async throws -> Int {
        var rng = SplitMix(seed: chunkSeed)
        var sent = 0
        while sent < total {
            let n = min(total - sent, Int(rng.next() % UInt64(Self.maxChunk)) + 1)
            try await conn.write(slice(at: sent, count: n))
            sent += n
        }
        return sent
    }

    /// Reads until EOF (or `total` bytes), comparing every byte; returns (bytes read,
    /// offset of the first mismatch if any).
    func receive(_ conn: some Conn, total: Int, bufferSize: Int = 65536) async throws -> (count: Int, mismatchAt: Int?) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buf.deallocate() }
        var rng = SplitMix(seed: seed ^ 0xabcdef)
        var got = 0
        while got < total {
            // Vary the read size too, down to a single byte now and then.
            let want = min(bufferSize, total - got, rng.next() % 16 == 0 ? 1 : Int(rng.next() % UInt64(bufferSize)) + 1)
            let n = try await conn.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<want]))
            if n == 0 { break }
            let expected = slice(at: got, count: n)
            if memcmp(buf.baseAddress!, expected.baseAddress!, n) != 0 {
                for i in 0..<n where buf[i] != expected[i] { return (got, got + i) }
            }
            got += n
        }
        return (got, nil)
    }
}

extension SerializedTests.NetTests {
    @Suite struct TransferTests {
        @Test(arguments: loopConfigs)
        func sixtyFourMiBThroughSmallSocketBuffersArriveIntact(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                // 16 KiB buffers (the kernel doubles them), set before the handshake:
                // partial writes and EAGAIN on both sides all the time. (Set after it,
                // they locked TCP into 200 ms zero-window probes now and then: see
                // tcpConnPair.)
                let (client, server) = try await tcpConnPair(group: group, buffers: 16384)
                let total = 64 << 20
                let stream = NetPatternStream(seed: 0x64)
                let writer = Task {
                    let n = try await stream.send(client, total: total, chunkSeed: 1)
                    try client.closeWrite()
                    return n
                }
                let finished = Flag()
                defer {
                    // On a hang: is the data stuck in the kernel (TCP), or in this library
                    // (queued or readable while the reader is parked)?
                    if !finished.isSet { printWhereStuck(config.name, client: client, server: server, group: group) }
                }
                let started = ContinuousClock.now
                let result = try await within(.seconds(60), "64 MiB transfer") {
                    try await stream.receive(server, total: total + 1)
                }
                let elapsed = ContinuousClock.now - started
                finished.set()
                let sent = try await within(.seconds(10), "writer finished") { try await writer.value }
                #expect(sent == total)
                #expect(result.count == total, "received \(result.count) of \(total) bytes")
                #expect(result.mismatchAt == nil, "first wrong byte at offset \(result.mismatchAt ?? -1)")
                let stats = group.statistics
                print("\(config.name): 64 MiB transfer in \(elapsed): \(stats)")
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func concurrentReadAndWriteInBothDirections(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group, buffers: 16384)
                let total = 8 << 20
                let up = NetPatternStream(seed: 11), down = NetPatternStream(seed: 22)
                let finished = Flag()
                defer {
                    // On a hang, say where each direction is stuck. Seen with uring-oneshot-defer:
                    // a writer parked (wg=3) on a socket with an empty send queue.
                    if !finished.isSet { printWhereStuck(config.name, client: client, server: server, group: group) }
                }
                try await within(.seconds(30), "full-duplex transfer") {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        // Each side writes and reads at the same time on one connection.
                        g.addTask { _ = try await up.send(client, total: total, chunkSeed: 3); try client.closeWrite() }
                        g.addTask { _ = try await down.send(server, total: total, chunkSeed: 4); try server.closeWrite() }
                        g.addTask {
                            let r = try await up.receive(server, total: total + 1)
                            #expect(r.count == total && r.mismatchAt == nil, "client→server: \(r)")
                        }
                        g.addTask {
                            let r = try await down.receive(client, total: total + 1)
                            #expect(r.count == total && r.mismatchAt == nil, "server→client: \(r)")
                        }
                        try await g.waitForAll()
                    }
                }
                finished.set()
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func readvAndWritevRoundTrip(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let sizes = [1, 0, 1000, 70_000, 3, 300_000]
                let parts: [[UInt8]] = sizes.enumerated().map { k, n in (0..<n).map { patternByte(UInt64(k), $0) } }
                let expected = parts.flatMap { $0 }
                let writer = Task {
                    // Copies that live until writev returns.
                    let bufs = parts.map { p -> UnsafeMutableRawBufferPointer in
                        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, p.count), alignment: 1)
                        b.copyBytes(from: p)
                        return UnsafeMutableRawBufferPointer(rebasing: b[0..<p.count])
                    }
                    defer { for b in bufs { b.baseAddress?.deallocate() } }
                    let n = try await client.fd.writev(bufs.map { UnsafeRawBufferPointer($0) })
                    try client.closeWrite()
                    return n
                }
                let received = try await within(.seconds(30), "readv until EOF") { () -> [UInt8] in
                    var out: [UInt8] = []
                    let a = UnsafeMutableRawBufferPointer.allocate(byteCount: 7, alignment: 1)
                    let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
                    let c = UnsafeMutableRawBufferPointer.allocate(byteCount: 5000, alignment: 1)
                    defer { a.deallocate(); b.deallocate(); c.deallocate() }
                    while true {
                        let n = try await server.fd.readv([a, b, c])
                        if n == 0 { break }
                        out += a.prefix(n)
                        if n > a.count { out += c.prefix(n - a.count) }
                    }
                    return out
                }
                let written = try await within(.seconds(10), "writev returned") { try await writer.value }
                #expect(written == expected.count)
                #expect(received.count == expected.count)
                #expect(received == expected, "readv/writev bytes differ")
                try await client.close()
                try await server.close()
            }
        }
    }
}
