import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: net/sendfile_test.go (TestSendfile, TestSendfileParts, TestSendfileSeeked),
// net/splice_test.go (TestSplice: tcp→tcp, unix→tcp, with limits) and
// os/readfrom_linux_test.go's proxy-like copies.

/// A temporary file in /tmp of `size` bytes of `stream`'s pattern. Its name is
/// unlinked as soon as it is open, so nothing is left behind even if a test dies.
final class PatternFile: Sendable {
    let fd: Int32
    let size: Int

    init(_ stream: NetPatternStream, size: Int) throws {
        var template = Array("/tmp/netpoll-sendfile-XXXXXX".utf8CString)
        fd = try check("mkstemp", mkstemp(&template))
        unlink(String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
        self.size = size
        var done = 0
        while done < size {
            let n = min(size - done, NetPatternStream.maxChunk)
            let chunk = stream.slice(at: done, count: n)
            let w = pwrite(fd, chunk.baseAddress, n, off_t(done))
            guard w > 0 else {
                Glibc.close(fd)
                throw SystemCallFailed(call: "pwrite", errno: errno)
            }
            done += w
        }
    }

    deinit { Glibc.close(fd) }
}

extension SerializedTests.FDTests {
    @Suite struct ZeroCopyTests {
        @Test(arguments: loopConfigs)
        func a256MiBFileArrivesByteForByte(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let total = 256 << 20
                let stream = NetPatternStream(seed: 0x5e4d)
                let file = try PatternFile(stream, size: total)
                let (client, server) = try await tcpConnPair(group: group)
                let sender = Task {
                    let n = try await client.sendFile(file.fd)
                    try client.closeWrite()
                    return n
                }
                let result = try await within(.seconds(120), "256 MiB by sendfile") {
                    try await stream.receive(server, total: total + 1)
                }
                let sent = try await within(.seconds(10), "sendFile returns") { try await sender.value }
                #expect(sent == Int64(total))
                #expect(result.count == total, "received \(result.count) of \(total) bytes")
                #expect(result.mismatchAt == nil, "first wrong byte at offset \(result.mismatchAt ?? -1)")
                #expect(lseek(file.fd, 0, SEEK_CUR) == 0, "the file's own offset is not moved")
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aFileShorterThanAskedEndsCleanlyWithWhatWasSent(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let stream = NetPatternStream(seed: 0x51)
                let file = try PatternFile(stream, size: 300_000)
                let (client, server) = try await tcpConnPair(group: group)
                let offset = 200_000 - 7
                let sent = try await within(.seconds(10), "sendFile past the end") {
                    try await client.sendFile(file.fd, offset: Int64(offset), count: 1 << 20)
                }
                #expect(sent == Int64(300_000 - offset))
                let got = try await within(.seconds(10), "read") { try await readFully(server, count: 300_000 - offset) }
                #expect(got == Array(stream.slice(at: offset, count: 300_000 - offset)))
                // Nothing at all past the end: 0, not an error.
                #expect(try await client.sendFile(file.fd, offset: 300_000, count: 10) == 0)
                // Not a file sendfile can read at an offset: ESPIPE for a pipe.
                let (r, w) = try makePipe()
                defer { Glibc.close(r); Glibc.close(w) }
                try await expectNetError(.system("sendfile", ESPIPE), "sendFile from a pipe") {
                    _ = try await client.sendFile(r, count: 10)
                }
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aPeerThatIsGoneIsAnErrorNotASignal(_ config: PollerConfig) async throws {
            // The kernel raises SIGPIPE for sendfile and splice into a reset socket
            // (no MSG_NOSIGNAL there); with the default action it would end this process.
            var old = sigaction()
            sigaction(SIGPIPE, nil, &old)
            let handler = unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self)
            #expect(handler == 0, "SIGPIPE must be at its default action for this test to mean anything")
            try await withNetGroup(config) { group in
                let file = try PatternFile(NetPatternStream(seed: 3), size: 1 << 20)
                let (client, server) = try await tcpConnPair(group: group)
                let (source, feeder) = try await tcpConnPair(group: group)
                try server.setLinger(.zero)
                try await server.close()  // RST
                try await Task.sleep(for: .milliseconds(20))
                var errnos: [Int32] = []
                for _ in 0..<3 {
                    do {
                        _ = try await within(.seconds(5), "sendFile to a reset peer") { try await client.sendFile(file.fd) }
                    } catch let e as NetpollError {
                        errnos.append(e.errno ?? 0)
                    }
                }
                #expect(errnos.contains(EPIPE), "sendfile errors: \(errnos)")
                try await feeder.write(Array(repeating: 1, count: 1000))
                // Completion mode copies from a ring-read source (no splice(2) to race
                // its RECV): the write to the reset peer is a send.
                try await expectNetError(.system(config.isCompletion ? "send" : "splice", EPIPE), "splice to a reset peer") {
                    _ = try await client.splice(from: source, count: 1000)
                }
                for c in [client, source, feeder] { try await c.close() }
            }
        }

        /// The peer resets while a sendfile streams: the send ends with EPIPE or
        /// ECONNRESET, never a signal. The kernel may raise SIGPIPE and still return a
        /// short count (the pages moved before the failed send), so the guard looks
        /// after every short call, not only after EPIPE; whether that happens here
        /// depends on timing — the file-server test below provokes it reliably.
        @Test(arguments: loopConfigs)
        func aPeerResettingMidTransferIsAnErrorNotASignal(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let file = try PatternFile(NetPatternStream(seed: 4), size: 64 << 20)
                var rng = SplitMix(seed: 0x9e)
                for _ in 0..<30 {
                    let (client, server) = try await tcpConnPair(group: group)
                    let sender = Task { try await client.sendFile(file.fd) }
                    // Read at full speed, so the sender is inside sendfile, not parked,
                    // when the reset comes.
                    let stopAt = 1 << 20 + Int(rng.next() % UInt64(4 << 20))
                    try await within(.seconds(10), "read part of the file") {
                        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                        defer { buf.deallocate() }
                        var got = 0
                        while got < stopAt {
                            let n = try await server.read(into: buf)
                            if n == 0 { break }
                            got += n
                        }
                    }
                    try server.setLinger(.zero)
                    try await server.close()
                    do {
                        let sent = try await within(.seconds(10), "sendFile to a peer that reset") { try await sender.value }
                        Issue.record("sendFile to a reset peer returned \(sent)")
                    } catch let e as NetpollError {
                        #expect(e.errno == EPIPE || e.errno == ECONNRESET, "\(e)")
                    }
                    try await client.close()
                }
            }
        }

        /// The same through `netpoll echo-server --file-size`, with clients that read
        /// at full speed (raw blocking recv) and close with most of a download unread:
        /// how `netpoll load --download` ends a run. The server must survive them all.
        @Test(arguments: loopConfigs)
        func theFileServerSurvivesClientsThatLeaveMidDownload(_ config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            let size = 16 << 20
            let server = try NetpollProcess(
                ["echo-server", "--file-size", String(size), "--file-send", "sendfile", "--loops", "1"], environment: config.environment)
            let port = try server.listeningPort()
            var rng = SplitMix(seed: 0x1eaf)
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            for _ in 0..<40 {
                let s = try tcpSocket()
                try withSockaddr(loopback(port: UInt16(port))) { _ = try check("connect", Glibc.connect(s.raw, $0, $1)) }
                var request = UInt64(size).littleEndian
                #expect(withUnsafeBytes(of: &request) { send(s.raw, $0.baseAddress, 8, 0) } == 8)
                let stopAt = Int(rng.next() % UInt64(size / 2))
                var got = 0
                while got < stopAt {
                    let n = buf.withUnsafeMutableBytes { recv(s.raw, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    got += n
                }
                s.close()  // unread data: the kernel answers with a reset
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.reap() == .stillRunning, "echo-server \(server.status): \(server.stderrText())")
            server.signal(SIGTERM)
            #expect(server.wait(within: .seconds(20)) == .exited(0), "stderr: \(server.stderrText())")
        }

        /// The bench's file scenario end to end: `netpoll load --download` against
        /// `echo-server --file-size` by each send method; every byte is checked by the
        /// client (a mismatch or short answer would be an error in its report).
        @Test(arguments: loopConfigs)
        func theDownloadClientVerifiesBothSendMethods(_ config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            for method in ["write", "sendfile"] {
                let server = try NetpollProcess(
                    ["echo-server", "--file-size", "300000", "--file-send", method, "--loops", "1"], environment: config.environment)
                let port = try server.listeningPort()
                let load = try NetpollProcess.run(
                    ["load", "--target", "127.0.0.1:\(port)", "--download", "--size", "300000", "--connections", "3",
                     "--duration", "0.3", "--warmup", "0", "--json"], within: .seconds(20))
                #expect(load.status == .exited(0), "load \(load.status): \(load.stderr)")
                #expect(load.stdout.contains("\"download\":true"), "\(load.stdout)")
                #expect(load.stdout.contains("\"errors\":0,"), "\(method): \(load.stdout)")
                #expect(!load.stdout.contains("\"requests_total\":0,"), "\(method): \(load.stdout)")
                server.signal(SIGTERM)
                #expect(server.wait(within: .seconds(20)) == .exited(0), "\(method) server: \(server.stderrText())")
            }
        }

        @Test(arguments: loopConfigs)
        func aWriteDeadlineEndsAStalledSendFileAndKeepsItsProgress(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let stream = NetPatternStream(seed: 0x77)
                let file = try PatternFile(stream, size: 32 << 20)
                let (client, server) = try await tcpConnPair(group: group)
                try client.setWriteDeadline(.now + .milliseconds(200))
                nonisolated(unsafe) var sent: Int64 = 0
                try await expectNetError(.deadlineExceeded, "sendFile to a peer that does not read") {
                    try await client.sendFile(file.fd, sent: &sent)
                }
                #expect(sent > 0 && sent < Int64(32 << 20), "sent \(sent) before the deadline")
                // Resume where it stopped: the reader sees one unbroken stream.
                try client.setWriteDeadline(nil)
                let resumeAt = sent
                let rest = Task {
                    let n = try await client.sendFile(file.fd, offset: resumeAt)
                    try client.closeWrite()
                    return n
                }
                let result = try await within(.seconds(60), "read everything") { try await stream.receive(server, total: (32 << 20) + 1) }
                #expect(try await rest.value == Int64(32 << 20) - resumeAt)
                #expect(result.count == 32 << 20 && result.mismatchAt == nil)
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aSpliceProxyBetweenTwoTCPConnectionsCarriesBothDirections(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let echo = try await TCPListener.listen(group: group)
                let echoPort = try #require(echo.address?.port)
                let echoing = Task { try await echo.serve { conn in try await SerializedTests.NetTests.EchoTests.echo(conn) } }
                let proxy = try await TCPListener.listen(group: group)
                let proxyPort = try #require(proxy.address?.port)
                let proxying = Task {
                    try await proxy.serve { downstream in
                        let upstream = try await TCPConn.connect(host: "127.0.0.1", port: echoPort, timeout: .seconds(5), group: group)
                        async let up: Int64 = {
                            let n = try await upstream.splice(from: downstream)
                            try upstream.closeWrite()
                            return n
                        }()
                        let down = try await downstream.splice(from: upstream)
                        try downstream.closeWrite()
                        let upCount = try await up
                        #expect(upCount == down, "proxied \(upCount) up, \(down) down")
                        try await upstream.close()
                    }
                }
                let client = try await TCPConn.connect(host: "127.0.0.1", port: proxyPort, timeout: .seconds(5), group: group)
                let ok = try await within(.seconds(60), "8 MiB through the splice proxy") {
                    try await SerializedTests.NetTests.EchoTests.roundTrip(client, NetPatternStream(seed: 0x5b1), offset: 3, count: 8 << 20)
                }
                #expect(ok)
                // Half-close travels through the proxy and back as end of stream.
                try client.closeWrite()
                #expect(try await within(.seconds(5), "EOF through the proxy") { try await client.read(maxCount: 16) } == [])
                try await client.close()
                try await proxy.close()
                try await within(.seconds(10), "proxy returns") { try await proxying.value }
                try await echo.close()
                try await within(.seconds(10), "echo returns") { try await echoing.value }
            }
        }

        @Test(arguments: loopConfigs)
        func aLimitedSpliceLeavesTheRestReadableAndPipesSpliceToo(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let (sinkIn, sinkOut) = try await tcpConnPair(group: group)
                // A short read first: the server's FD now holds the drained-queue hint.
                try await client.write([1, 2, 3])
                #expect(try await server.read(maxCount: 100) == [1, 2, 3])
                let stream = NetPatternStream(seed: 0x11)
                try await client.write(stream.slice(at: 0, count: 5000))
                try await Task.sleep(for: .milliseconds(20))  // all of it queued at the server
                let moved = try await within(.seconds(5), "splice 1000 of 5000") { try await sinkIn.splice(from: server, count: 1000) }
                #expect(moved == 1000)
                #expect(try await within(.seconds(5), "sink receives") { try await readFully(sinkOut, count: 1000) } == Array(stream.slice(at: 0, count: 1000)))
                // The 4000 left are read at once: the hint must not make this read wait
                // for an arrival that already happened.
                let rest = try await within(.seconds(5), "read the rest") { try await readFully(server, count: 4000) }
                #expect(rest == Array(stream.slice(at: 1000, count: 4000)))

                // From a pipe, until its end.
                let (r, w) = try makePipe()
                let pipe = try await FD.open(r, loop: group.next(), isSocket: false)
                let bytes = Array(stream.slice(at: 7, count: 3000))
                #expect(writeBytes(w, bytes) == 3000)
                Glibc.close(w)
                let fromPipe = try await within(.seconds(5), "splice from a pipe") { try await sinkIn.splice(from: pipe) }
                #expect(fromPipe == 3000)
                #expect(try await within(.seconds(5), "sink receives") { try await readFully(sinkOut, count: 3000) } == bytes)
                try await pipe.close()

                // A source closed under a waiting splice ends it with the closed error.
                let waiting = Task { try await sinkIn.splice(from: server) }
                try await Task.sleep(for: .milliseconds(50))
                try await server.close()
                try await expectNetError(.netClosing, "splice from a closed source") { _ = try await waiting.value }
                for c in [client, sinkIn, sinkOut] { try await c.close() }
            }
        }
    }
}
