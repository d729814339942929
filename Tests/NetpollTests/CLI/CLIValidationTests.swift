import Testing
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests {
    /// The built `netpoll` binary, run as a user would (issue 8, items 2 and 3): every bad option or NETPOLL_* value ends the
    /// command with a non-zero exit status, no crash, and a message on stderr that
    /// names the option or variable. Each run is killed after 10 s, so an input that
    /// is wrongly accepted (a server that starts) fails the test instead of hanging
    /// it. The echo server's timeouts are checked end to end with generous bounds,
    /// never with a speed assumption. In ``SerializedTests``: a child's pipes are
    /// descriptors too.
    @Suite struct CLIValidationTests {
        struct BadInput: Sendable, CustomTestStringConvertible {
            let arguments: [String]
            let environment: [String: String]
            /// Each must appear in stderr.
            let mentions: [String]

            init(_ arguments: [String], env: [String: String] = [:], mentions: [String]) {
                self.arguments = arguments
                self.environment = env
                self.mentions = mentions
            }

            var testDescription: String {
                (environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["netpoll"]
                    + arguments.map { $0.isEmpty ? "\"\"" : $0 }).joined(separator: " ")
            }
        }

        static let loopsRule = "must be a whole number from 1 to 1024"

        static let badInputs: [BadInput] = [
            // Item 2.
            BadInput(["echo-server", "--loops", "0"], mentions: ["--loops", "'0'", loopsRule]),
            BadInput(["echo-server", "--loops", "-1"], mentions: ["--loops", "'-1'", loopsRule]),
            BadInput(["echo-server", "--loops", "5000"], mentions: ["--loops", "'5000'", loopsRule]),
            BadInput(["echo-server", "--buffer-size", "0"], mentions: ["--buffer-size", "'0'", "from 1 to"]),
            BadInput(["echo-server", "--buffer-size", "-5"], mentions: ["--buffer-size", "'-5'", "from 1 to"]),
            BadInput(["echo-server", "--port", "70000"], mentions: ["--port", "from 0 to 65535"]),
            BadInput(["echo-server", "--idle-timeout", "-1"], mentions: ["--idle-timeout", "seconds"]),
            BadInput(["echo-server", "--write-timeout", "soon"], mentions: ["--write-timeout", "seconds"]),
            BadInput(["echo-server", "--backend", "bogus"], mentions: ["--backend", "epoll, uring, auto"]),
            // Item 3.
            BadInput(["echo-server", "--host", ""], mentions: ["--host", "must not be empty"]),
            BadInput(["echo-server"], env: ["NETPOLL_LOOPS": "abc"], mentions: ["NETPOLL_LOOPS", "\"abc\"", loopsRule]),
            BadInput(["info"], env: ["NETPOLL_LOOPS": "abc"], mentions: ["NETPOLL_LOOPS", "\"abc\"", loopsRule]),
            BadInput(["info"], env: ["NETPOLL_LOOPS": "0"], mentions: ["NETPOLL_LOOPS", loopsRule]),
            BadInput(["info"], env: ["NETPOLL_BACKEND": "bogus"], mentions: ["NETPOLL_BACKEND", "\"bogus\"", "epoll, uring, auto"]),
            BadInput(["info"], env: ["NETPOLL_BACKEND": "epoll", "NETPOLL_URING_MODE": "bogus"],
                     mentions: ["NETPOLL_URING_MODE", "multishot, oneshot"]),
            BadInput(["info"], env: ["NETPOLL_URING_SETUP": "fast"], mentions: ["NETPOLL_URING_SETUP", "defer, coop, plain"]),
            BadInput(["info"], env: ["NETPOLL_URING_ENTRIES": "0"], mentions: ["NETPOLL_URING_ENTRIES", "from 1 to 32768"]),
            BadInput(["load", "--target", "::1:80"], mentions: ["--target", "'::1:80'", "brackets"]),
            BadInput(["load", "--target", "127.0.0.1:70000"], mentions: ["--target", "1 to 65535"]),
            BadInput(["load", "--target", "127.0.0.1:1", "--size", "0"], mentions: ["--size", "'0'"]),
            BadInput(["load", "--target", "127.0.0.1:1", "--threads", "0"], mentions: ["--threads"]),
            BadInput(["bench", "--loops", "0"], mentions: ["--loops", loopsRule]),
            BadInput(["bench", "--connections", "1,0"], mentions: ["--connections", "\"0\""]),
            BadInput(["bench", "--backends", "epoll,bogus"], mentions: ["--backends", "\"bogus\""]),
            BadInput(["bench", "--backends", "uring+turbo"], mentions: ["--backends", "\"uring+turbo\"", "accept"]),
            BadInput(["bench", "--backends", "epoll+accept"], mentions: ["--backends", "\"epoll+accept\"", "no io_uring features"]),
            BadInput(["info"], env: ["NETPOLL_URING_FEATURES": "turbo"], mentions: ["NETPOLL_URING_FEATURES", "\"turbo\"", "accept"]),
        ]

        @Test(arguments: badInputs)
        func aBadInputIsAnErrorNamingIt(_ input: BadInput) throws {
            let run = try NetpollProcess.run(input.arguments, environment: input.environment)
            switch run.status {
            case .exited(let code):
                #expect(code != 0, "\(input.testDescription) exited 0")
            case .signalled(let signal):
                Issue.record("\(input.testDescription) died of signal \(signal); stderr: \(run.stderr)")
            case .stillRunning:
                Issue.record("\(input.testDescription) was still running after 10 s (killed): the input was accepted")
            }
            for text in input.mentions {
                #expect(run.stderr.contains(text), "stderr lacks \(text.debugDescription): \(run.stderr)")
            }
        }

        /// `--help` names every backend value `--backend` and NETPOLL_BACKEND accept.
        @Test func echoServerHelpListsEveryBackend() throws {
            let run = try NetpollProcess.run(["echo-server", "--help"])
            #expect(run.status == .exited(0), "netpoll echo-server --help: \(run.status); stderr: \(run.stderr)")
            let help = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for name in ["epoll", "uring", "auto", "uring-multishot", "uring-oneshot", "uring-completion"] {
                #expect(help.contains(name), "--help lacks \(name): \(help)")
            }
        }

        @Test func infoShowsTheRingSizeAskedForByNetpollURingEntries() throws {
            let run = try NetpollProcess.run(["info"], environment: ["NETPOLL_URING_ENTRIES": "2"])
            #expect(run.status == .exited(0), "netpoll info: \(run.status); stderr: \(run.stderr)")
            let line = run.stdout.split(separator: "\n").first { $0.hasPrefix("io_uring ring") }
            let ring = try #require(line, "no io_uring ring line in: \(run.stdout)")
            #expect(ring.contains("NETPOLL_URING_ENTRIES=2"), "\(ring)")
            if !ring.contains("unusable") {
                // The kernel rounds up to a power of two; the CQ is twice the SQ.
                #expect(ring.contains("sq_entries=2 ") && ring.contains("cq_entries=4"), "\(ring)")
            }
        }

        /// `--idle-timeout`: bytes are echoed, then a peer that sends nothing more is
        /// disconnected (well before the 10 s this test waits at most).
        @Test func anIdlePeerIsDisconnected() throws {
            try Self.withServer(["--idle-timeout", "0.2"]) { port in
                let conn = try connectLoopback(port: port)
                defer { conn.close() }
                let fd = conn.raw
                #expect(sendAll(fd, Array("ping".utf8)))
                var buf = [UInt8](repeating: 0, count: 16)
                #expect(recv(fd, &buf, 4, Int32(MSG_WAITALL)) == 4)
                #expect(Array(buf[0..<4]) == Array("ping".utf8))
                let n = recv(fd, &buf, buf.count, 0)
                let e = errno
                #expect(n == 0 || (n < 0 && e == ECONNRESET), "recv after idling returned \(n), errno \(e) (EAGAIN: not closed within 10 s)")
            }
        }

        /// `--write-timeout`: a peer that sends but never reads stalls the server's
        /// write; the server closes the connection, so our stalled send fails.
        @Test func aPeerThatDoesNotReadIsDisconnected() throws {
            try Self.withServer(["--write-timeout", "0.2"]) { port in
                let conn = try connectLoopback(port: port)
                defer { conn.close() }
                let fd = conn.raw
                let chunk = [UInt8](repeating: 0x61, count: 65536)
                let deadline = ContinuousClock.now + .seconds(10)
                var failure: Int32 = 0
                while failure == 0 && ContinuousClock.now < deadline {
                    let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n < 0 && errno != EAGAIN && errno != EINTR { failure = errno }
                }
                #expect(failure == ECONNRESET || failure == EPIPE, "send did not fail within 10 s (errno \(failure))")
            }
        }

        /// Starts an echo server on a free loopback port with `options`, runs `body`
        /// with its port, and stops it (SIGTERM; SIGKILL after 10 s).
        static func withServer(_ options: [String], _ body: (UInt16) throws -> Void) throws {
            let server = try NetpollProcess(["echo-server", "--loops", "1", "--port", "0"] + options)
            defer {
                server.signal(SIGTERM)
                if server.wait(within: .seconds(10)) == .stillRunning { server.signal(SIGKILL) }
            }
            try body(UInt16(try server.listeningPort()))
        }
    }
}

// MARK: sockets

/// A blocking connection to 127.0.0.1:`port` whose every wait is bounded (10 s), so
/// a server that never answers fails the test instead of hanging it.
private func connectLoopback(port: UInt16) throws -> OwnedFD {
    let s = try tcpSocket()
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    _ = setsockopt(s.raw, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(s.raw, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    try withSockaddr(loopback(port: port)) { try check("connect 127.0.0.1:\(port)", connect(s.raw, $0, $1)) }
    return s
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { return false }
        off += n
    }
    return true
}
