import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Issue 8: stalled peers (idle and write timeouts with the deadline API, as Go's
// http.Server does), writes that report how far they got (Go's `n, err`), and the
// borrowed read that lets an idle connection hold no buffer.

/// The serve handler of these tests: echo with Go's http.Server-style timeouts,
/// built on the public deadline API as the `serve` documentation shows.
private func echoWithTimeouts(
    _ conn: TCPConn, idle: Duration, write: Duration, timeouts: Counter
) async throws {
    do {
        while true {
            try conn.setReadDeadline(.now + idle)
            let open = try await conn.readBorrowed { bytes in
                if bytes.isEmpty { return false }
                try conn.setWriteDeadline(.now + write)
                try await conn.write(bytes)
                return true
            }
            if !open { return }
        }
    } catch let e as NetpollError where e.isTimeout {
        timeouts.add()
        throw e
    }
}

/// Runs `body` with the port of a listener serving ``echoWithTimeouts`` (each
/// accepted connection's send buffer set to `sendBuffer` when given) and the counter
/// of deadlines that fired; stops serving and closes the listener afterwards.
private func withTimeoutEchoServer(
    group: LoopGroup, idle: Duration, write: Duration, sendBuffer: Int? = nil,
    _ body: (_ port: Int, _ timeouts: Counter) async throws -> Void
) async throws {
    let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
    let port = try #require(listener.address?.port)
    let timeouts = Counter()
    let serving = Task {
        try await listener.serve { conn in
            if let sendBuffer { try conn.setWriteBuffer(sendBuffer) }
            try await echoWithTimeouts(conn, idle: idle, write: write, timeouts: timeouts)
        }
    }
    defer { serving.cancel() }
    try await body(port, timeouts)
    serving.cancel()
    _ = await serving.result
    try await listener.close()
}

extension SerializedTests.NetTests {
    @Suite struct StalledPeerTests {
        @Test(arguments: loopConfigs)
        func borrowedReadEchoesEveryByteAndSeesEndOfStream(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let total = 300_000
                let echoing = Task {
                    var chunks = 0
                    while try await server.readBorrowed(upTo: 1000, { bytes in
                        #expect(bytes.count <= 1000)
                        if bytes.isEmpty { return false }
                        try await server.write(bytes)
                        return true
                    }) { chunks += 1 }
                    return chunks
                }
                let sent = [UInt8]((0..<total).map { patternByte(7, $0) })
                async let writing: Void = {
                    try await client.write(sent)
                    try client.closeWrite()
                }()
                let got = try await within(.seconds(20), "echo of \(total) bytes") {
                    try await readFully(client, count: total)
                }
                try await writing
                #expect(got == sent)
                let chunks = try await within(.seconds(5), "server sees end of stream") { try await echoing.value }
                #expect(chunks >= total / 1000)
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func borrowedReadEndsWithTheDeadlineOrCloseAndNeverRunsItsBody(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let bodyRan = Flag()
                try server.setReadDeadline(.now + .milliseconds(50))
                try await expectNetError(.deadlineExceeded, "borrowed read past its deadline") {
                    _ = try await server.readBorrowed { _ in bodyRan.set() }
                }
                try server.setReadDeadline(nil)
                let parked = Task {
                    try await server.readBorrowed { _ in bodyRan.set() }
                }
                try await Task.sleep(for: .milliseconds(50))
                try await server.close()
                await #expect(throws: NetpollError.netClosing) { try await parked.value }
                #expect(!bodyRan.isSet)
                try await client.close()
            }
        }

        /// Go's `Write` returns how much went out with the error: a write that times out
        /// against a peer that does not read says exactly how many bytes the peer will
        /// see, and can be resumed from there.
        @Test(arguments: loopConfigs)
        func timedOutWriteReportsTheBytesSentAndResumes(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                try server.setWriteBuffer(16 * 1024)
                try client.setReadBuffer(16 * 1024)
                let total = 2 << 20
                let data = [UInt8]((0..<total).map { patternByte(11, $0) })
                // Array storage cannot be held across a suspension: write from a copy.
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 16)
                defer { buf.deallocate() }
                buf.copyBytes(from: data)
                var written = 0
                try server.setWriteDeadline(.now + .milliseconds(200))
                do {
                    try await server.write(UnsafeRawBufferPointer(buf), written: &written)
                    Issue.record("a write of \(total) bytes to a peer that reads nothing finished")
                } catch let e as NetpollError {
                    #expect(e == .deadlineExceeded)
                }
                #expect(written > 0 && written < total, "written = \(written)")

                // The peer now reads everything; the writer resumes where it stopped.
                try server.setWriteDeadline(nil)
                let reading = Task { try await readFully(client, count: total) }
                let resumeFrom = written
                var rest = 0
                try await server.write(UnsafeRawBufferPointer(rebasing: buf[resumeFrom...]), written: &rest)
                #expect(resumeFrom + rest == total)
                let got = try await within(.seconds(20), "reading \(total) bytes") { try await reading.value }
                #expect(got == data, "the bytes before and after the time-out must join up exactly")
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func writeTimeoutClosesAStalledPeerWhileOthersKeepEchoing(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                try await withTimeoutEchoServer(group: group, idle: .seconds(30), write: .milliseconds(300), sendBuffer: 16 * 1024) { port, timeouts in
                    // The stalled peer sends without ever reading: the server's echo writes
                    // fill both socket buffers and block until the write timeout.
                    let stalled = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    try stalled.setReadBuffer(16 * 1024)
                    let flooding = Task {
                        let chunk = [UInt8](repeating: 0x5a, count: 64 * 1024)
                        for _ in 0..<256 { try await stalled.write(chunk) }
                    }

                    // Meanwhile other clients echo, each round trip checked.
                    let roundTrips = 200
                    try await within(.seconds(20), "echo clients beside a stalled peer") {
                        try await withThrowingTaskGroup(of: Void.self) { clients in
                            for c in 0..<4 {
                                clients.addTask {
                                    let conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                                    for i in 0..<roundTrips {
                                        let msg = (0..<64).map { patternByte(UInt64(c), i * 64 + $0) }
                                        try await conn.write(msg)
                                        #expect(try await readFully(conn, count: 64) == msg)
                                    }
                                    try await conn.close()
                                }
                            }
                            try await clients.waitForAll()
                        }
                    }

                    // The server gives up on the stalled peer: its flood then fails.
                    try await waitUntil(within: .seconds(10), "the server's write timeout fired") { timeouts.value >= 1 }
                    let floodResult = try await within(.seconds(10), "the stalled peer sees its connection closed") {
                        await flooding.result
                    }
                    #expect(throws: (any Error).self) { try floodResult.get() }
                    try await stalled.close()
                }
            }
        }

        @Test(arguments: loopConfigs)
        func idleTimeoutClosesASilentConnectionButNotABusyOne(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                // Margins a loaded machine keeps: the busy peer's gaps (50 ms asked)
                // ran past 300 ms once, when the idle timeout was 300 ms and the gap 100.
                try await withTimeoutEchoServer(group: group, idle: .milliseconds(600), write: .seconds(5)) { port, timeouts in
                    let silent = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    let busy = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    // The busy one talks every 50 ms for over a second: never idle for 600 ms.
                    for i in 0..<24 {
                        try await busy.write([UInt8(i)])
                        #expect(try await readFully(busy, count: 1) == [UInt8(i)])
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    // By now the silent one has been closed by the server: end of stream.
                    let eof = try await within(.seconds(5), "silent connection closed") {
                        try await silent.read(maxCount: 16)
                    }
                    #expect(eof.isEmpty)
                    #expect(timeouts.value >= 1)
                    try await busy.write([42])
                    #expect(try await readFully(busy, count: 1) == [42])

                    try await silent.close()
                    try await busy.close()
                }
            }
        }
    }
}
