import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// The cases io_uring completion mode adds to a read (a RECV that runs ahead of its
// reader into a shared buffer ring), asserted on every backend: what they promise —
// nothing lost, nothing reordered, nothing hangs, nothing leaks — holds for the
// readiness backends too; the ring's own limits are checked where the ring exists.

extension PollerConfig {
    var isCompletion: Bool { backend.kind == .uring && backend.uring.mode == .completion }

    /// The same configuration with a provided-buffer ring of `buffers` (completion
    /// mode only; others unchanged).
    func withReceiveRing(buffers: UInt32) -> PollerConfig {
        guard isCompletion else { return self }
        var b = backend
        b.uring.receiveBuffers = buffers
        return PollerConfig(name: name, backend: b, availability: availability)
    }
}

extension SerializedTests.NetTests {
    @Suite struct RingReceiveTests {
        /// Reads `count` bytes and checks them against `stream` from `offset`; returns
        /// the offset of the first wrong byte, if any.
        static func receiveChecked(_ conn: some Conn, _ stream: NetPatternStream, offset: Int, count: Int) async throws -> Int? {
            var got = 0
            while got < count {
                let chunk = try await conn.read(maxCount: min(65536, count - got))
                if chunk.isEmpty {
                    Issue.record("EOF after \(got) of \(count) bytes")
                    return got
                }
                let expected = stream.slice(at: offset + got, count: chunk.count)
                if let i = chunk.indices.first(where: { chunk[$0] != expected[$0] }) { return got + i }
                got += chunk.count
            }
            return nil
        }

        /// A reader that stops reading while its peer keeps sending pins at most its
        /// cap of ring buffers, another connection on the same loop keeps echoing, and
        /// the reader, once it reads again, gets every byte in order.
        @Test(arguments: loopConfigs)
        func aReaderThatStopsReadingPinsItsCapAndLosesNothing(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 1) { group in
                let (stalledClient, stalledServer) = try await tcpConnPair(group: group)
                let (busyClient, busyServer) = try await tcpConnPair(group: group)
                let stream = NetPatternStream(seed: 0x57a11)
                let total = 4 << 20
                // One byte read by a reader that waits for it (completion mode starts its
                // RECV then); after that it stops reading.
                let first = Task { try await Self.receiveChecked(stalledServer, stream, offset: 0, count: 1) }
                try await waitUntil("the reader waits") { stalledServer.fd.pd.readParked }
                let flood = Task { try await stream.send(stalledClient, total: total, chunkSeed: 3) }
                #expect(try await within(.seconds(5), "first byte") { try await first.value } == nil)

                let echo = Task { try await SerializedTests.NetTests.EchoTests.echo(busyServer) }
                try await within(.seconds(30), "200 round trips beside a stalled reader") {
                    for i in 0..<200 {
                        let ok = try await SerializedTests.NetTests.EchoTests.roundTrip(busyClient, stream, offset: i * 977, count: 64)
                        #expect(ok, "round trip \(i): echo differs")
                    }
                }
                // Not under fault injection: an injected end of the stalled reader's
                // RECV (-ECANCELED, -ENOBUFS, as a dry buffer ring ends it for real)
                // stops it before the cap, and nothing restarts it while its reader
                // does not read. Every byte is still checked below.
                if config.isCompletion && !faultInjectionIsOn {
                    let loop = group.loops[0]
                    try await waitUntil("the stalled reader's RECV was stopped at its cap") {
                        loop.statistics.receiveCapped > 0
                    }
                    let cap = config.backend.uring.receiveCap
                    // What one kernel wakeup delivered beyond the cap was copied out and
                    // its ring buffers returned: the stalled reader holds at most `cap`.
                    try await waitUntil("the stalled reader holds at most its cap (\(cap)) of ring buffers") {
                        loop.statistics.ringBuffersHeld <= UInt64(cap)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    let held = loop.statistics.ringBuffersHeld
                    #expect(held <= UInt64(cap), "a stalled reader holds \(held) ring buffers (cap \(cap))")
                }
                let mismatch = try await within(.seconds(30), "the stalled reader catches up") {
                    try await Self.receiveChecked(stalledServer, stream, offset: 1, count: total - 1)
                }
                #expect(mismatch == nil, "byte \(mismatch ?? -1) after the stall differs")
                #expect(try await within(.seconds(10), "flood finished") { try await flood.value } == total)
                try await busyClient.close()
                try await within(.seconds(10), "echo ended") { try await echo.value }
                for c in [stalledClient, stalledServer, busyServer] { try await c.close() }
                if config.isCompletion {
                    try await waitUntil("every ring buffer back") { group.loops[0].statistics.ringBuffersHeld == 0 }
                }
            }
        }

        /// 1,000 connections send at once into a ring of 16 buffers: RECVs end with
        /// -ENOBUFS, readers fall back to read(2) and re-arm, and every byte of every
        /// echo comes back.
        @Test(arguments: loopConfigs)
        func aDryBufferRingUnderAThousandSendersLosesNothing(_ config: PollerConfig) async throws {
            let clients = 1000
            let size = 8 * 1024
            guard config.canRunHere(descriptors: 2 * clients + 64) else { return }
            try await withNetGroup(config.withReceiveRing(buffers: 16), loops: 1) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let connected = Counter()
                let serving = Task {
                    try await listener.serve { conn in
                        // The first byte's round trip, then a pause while every client
                        // sends: its RECV, started by that first wait, meets a ring
                        // whose buffers hold data no reader has taken yet.
                        let one = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                        defer { one.deallocate() }
                        guard try await conn.read(into: one) == 1 else { return }
                        try await conn.write(UnsafeRawBufferPointer(one))
                        try await waitUntil(within: .seconds(60), "all connected") { connected.value == clients }
                        try await Task.sleep(for: .milliseconds(200))
                        try await SerializedTests.NetTests.EchoTests.echo(conn)
                    }
                }
                let stream = NetPatternStream(seed: 0xd27)
                let verified = Counter()
                try await within(.seconds(120), "\(clients) senders") {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        for i in 0..<clients {
                            g.addTask {
                                let conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(30), group: group)
                                connected.add()
                                do {
                                    // A first round trip makes every server reader wait once
                                    // (its RECV starts), then all send together.
                                    _ = try await SerializedTests.NetTests.EchoTests.roundTrip(conn, stream, offset: i, count: 1)
                                    try await waitUntil(within: .seconds(60), "all connected") { connected.value == clients }
                                    if try await SerializedTests.NetTests.EchoTests.roundTrip(conn, stream, offset: i * 131, count: size) {
                                        verified.add()
                                    } else {
                                        Issue.record("client \(i): echo differs")
                                    }
                                } catch {
                                    try? await conn.close()
                                    throw error
                                }
                                try await conn.close()
                            }
                        }
                        try await g.waitForAll()
                    }
                }
                #expect(verified.value == clients)
                if config.isCompletion {
                    let s = group.statistics
                    #expect(s.receiveStarved > 0, "16 buffers for 1,000 senders never ran dry: \(s)")
                    try await waitUntil("every ring buffer back") { group.statistics.ringBuffersHeld == 0 }
                }
                try await listener.close()
                try await within(.seconds(10), "serve returns") { try await serving.value }
            }
        }

        /// Data the peer sent before its FIN, or before a reset, is read first; then
        /// end of stream, or ECONNRESET, as read(2) reports them.
        @Test(arguments: loopConfigs)
        func endOfStreamAndResetComeAfterTheQueuedData(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 1) { group in
                let stream = NetPatternStream(seed: 0xe0f)
                for reset in [false, true] {
                    let (client, server) = try await tcpConnPair(group: group)
                    // The server's reader waits first, so completion mode's RECV is running
                    // when the data and the FIN or RST arrive.
                    let first = Task { try await server.read(maxCount: 1) }
                    try await Task.sleep(for: .milliseconds(20))
                    let count = 200_000
                    try await client.write(stream.slice(at: 0, count: 1))
                    try await client.write(stream.slice(at: 1, count: count))
                    if reset {
                        // SO_LINGER 0: close sends RST instead of FIN.
                        var lin = linger(l_onoff: 1, l_linger: 0)
                        let fd = client.fd.sysfd
                        #expect(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size)) == 0)
                    }
                    // Let everything land in the server's socket before the FIN/RST.
                    try await Task.sleep(for: .milliseconds(50))
                    try await client.close()
                    #expect(try await within(.seconds(5), "first byte") { try await first.value } == Array(stream.slice(at: 0, count: 1)))
                    if reset {
                        // A reset may discard what was not read yet: whatever comes is in
                        // order, and the read that finds the reset reports ECONNRESET.
                        var got = 0
                        do {
                            while true {
                                let chunk = try await within(.seconds(5), "read before the reset") { try await server.read(maxCount: 65536) }
                                if chunk.isEmpty { break }
                                #expect(chunk == Array(stream.slice(at: 1 + got, count: chunk.count)), "bytes before the reset differ")
                                got += chunk.count
                            }
                            Issue.record("a reset peer read as end of stream after \(got) bytes")
                        } catch let e as NetpollError {
                            #expect(e == .system("read", ECONNRESET), "got \(e)")
                        }
                    } else {
                        let mismatch = try await Self.receiveChecked(server, stream, offset: 1, count: count)
                        #expect(mismatch == nil)
                        #expect(try await within(.seconds(5), "EOF") { try await server.read(maxCount: 16) }.isEmpty)
                        #expect(try await within(.seconds(5), "EOF again") { try await server.read(maxCount: 16) }.isEmpty)
                    }
                    try await server.close()
                }
            }
        }

        /// A readv whose buffers the queued bytes fill exactly must leave a reset queued
        /// behind them for the next read (spin's RingReceive model found completion mode
        /// dropping it: the next buffer's take popped the end, and the read after that
        /// found only the kernel's 0).
        @Test(arguments: loopConfigs)
        func aReadvFilledExactlyLeavesTheResetForTheNextRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 1) { group in
                let stream = NetPatternStream(seed: 0x7e4)
                let (client, server) = try await tcpConnPair(group: group)
                // A reader that waits once, so completion mode's RECV is running.
                let first = Task { try await server.read(maxCount: 1) }
                try await waitUntil("the reader waits") { server.fd.pd.readParked }
                try await client.write(stream.slice(at: 0, count: 1))
                _ = try await within(.seconds(5), "first byte") { try await first.value }
                let n = 1000
                try await client.write(stream.slice(at: 1, count: n))
                try await Task.sleep(for: .milliseconds(50))  // received before the reset
                try client.setLinger(.zero)
                try await client.close()  // RST
                try await Task.sleep(for: .milliseconds(50))
                let a = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 16)
                let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 16)
                defer { a.deallocate(); b.deallocate() }
                // Until the reset or end of stream: without faults the first readv is
                // filled exactly (n bytes) and the second reports the reset; under fault
                // injection a RECV may end early and the bytes come in more pieces.
                var outcomes: [String] = []
                var received: [UInt8] = []
                for _ in 0..<(faultInjectionIsOn ? 1 + n : 2) {
                    do {
                        // Addresses, not pointers, cross into the bounded wait's closure.
                        let (pa, pb) = (UInt(bitPattern: a.baseAddress), UInt(bitPattern: b.baseAddress))
                        let got = try await within(.seconds(5), "readv") {
                            try await server.fd.readv([
                                UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: pa), count: n),
                                UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: pb), count: 100),
                            ])
                        }
                        outcomes.append("\(got)")
                        received += UnsafeRawBufferPointer(rebasing: a[0..<min(got, n)])
                        received += UnsafeRawBufferPointer(rebasing: b[0..<max(0, got - n)])
                        if got == 0 { break }
                    } catch let e as NetpollError {
                        #expect(e.errno == ECONNRESET, "got \(e)")
                        outcomes.append("reset")
                        break
                    }
                }
                // The bytes then the reset — or, where the kernel dropped unread bytes
                // on the reset (readiness backends may), fewer bytes then the reset.
                // Never a clean end, and never a byte out of order.
                #expect(outcomes.last == "reset", "readv results: \(outcomes)")
                #expect(received == Array(stream.slice(at: 1, count: received.count)), "readv results: \(outcomes)")
                if !faultInjectionIsOn {
                    #expect(outcomes == ["\(n)", "reset"] || outcomes == ["reset"], "readv results: \(outcomes)")
                }
                try await server.close()
            }
        }

        /// Closing a connection whose reader is parked (a RECV in flight in completion
        /// mode) and whose writer is blocked on a full socket: both fail with the closed
        /// error, the peer sees the connection end promptly, and no descriptor, ring
        /// buffer or poll slot is left behind.
        @Test(arguments: loopConfigs)
        func closeWithAReceiveAndABlockedWriteInFlight(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 1) { group in
                let loop = group.loops[0]
                let openBefore = loop.statistics.descriptorsOpen
                let (client, server) = try await tcpConnPair(group: group)
                try server.setWriteBuffer(16 * 1024)
                try client.setReadBuffer(16 * 1024)
                let reader = Task { try await server.read(maxCount: 4096) }
                let writer = Task {
                    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                    defer { chunk.deallocate() }
                    chunk.initializeMemory(as: UInt8.self, repeating: 7)
                    while true { try await server.write(UnsafeRawBufferPointer(chunk)) }
                }
                try await waitUntil("reader and writer parked") {
                    server.fd.pd.readParked && server.fd.pd.writeParked
                }
                try await server.close()
                await #expect(throws: NetpollError.netClosing) { try await within(.seconds(5), "reader") { try await reader.value } }
                await #expect(throws: NetpollError.netClosing) { try await within(.seconds(5), "writer") { try await writer.value } }
                // The peer drains what was sent and then sees the end (FIN, or RST for
                // bytes it sent that were never read) — promptly, with no further
                // activity on the server's loop.
                let ended = try await within(.seconds(5), "the peer sees the close") { () async throws -> Bool in
                    do {
                        while true {
                            if try await client.read(maxCount: 65536).isEmpty { return true }
                        }
                    } catch let e as NetpollError {
                        return e == .system("read", ECONNRESET)
                    }
                }
                #expect(ended)
                try await client.close()
                try await waitUntil("descriptors closed") { loop.statistics.descriptorsOpen == openBefore }
                if config.isCompletion {
                    try await waitUntil("every ring buffer back") { loop.statistics.ringBuffersHeld == 0 }
                }
            }
        }

        /// The FIN of a closed connection reaches an idle peer without waiting for
        /// other traffic: io_uring closes through the ring, and the enter that carries
        /// the CLOSE must also let the file go.
        @Test(arguments: loopConfigs)
        func aClosedConnectionsFINReachesAnIdlePeerPromptly(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 1) { group in
                let stream = NetPatternStream(seed: 0xf1)
                for _ in 0..<20 {
                    let (client, server) = try await tcpConnPair(group: group)
                    // A reader that waited once: completion mode has a RECV in the kernel.
                    let waiting = Task { try await server.read(maxCount: 16) }
                    try await client.write(stream.slice(at: 0, count: 1))
                    _ = try await within(.seconds(5), "server read") { try await waiting.value }
                    try await server.close()
                    let eof = try await within(.seconds(2), "EOF after the server's close") { try await client.read(maxCount: 16) }
                    #expect(eof.isEmpty)
                    try await client.close()
                }
            }
        }
    }
}
