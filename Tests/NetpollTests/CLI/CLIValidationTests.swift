import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `netpoll` binary, run as a user would (issue 8, items 2 and 3): every bad option or NETPOLL_* value ends the
/// command with a non-zero exit status, no crash, and a message on stderr that
/// names the option or variable. Each run is killed after 10 s, so an input that
/// is wrongly accepted (a server that starts) fails the test instead of hanging
/// it. The echo server's timeouts are checked end to end with generous bounds,
/// never with a speed assumption. Serialized, so at most one child's pipes are
/// open at a time while other suites count descriptors.
@Suite(.serialized) struct CLIValidationTests {
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
    ]

    @Test(arguments: badInputs)
    func aBadInputIsAnErrorNamingIt(_ input: BadInput) throws {
        let run = try CLIChild.run(input.arguments, environment: input.environment)
        switch run.status {
        case .exited(let code):
            #expect(code != 0, "\(input.testDescription) exited 0")
        case .signalled(let signal):
            Issue.record("\(input.testDescription) died of signal \(signal); stderr: \(run.stderr)")
        case .killedAfterLimit:
            Issue.record("\(input.testDescription) was still running after \(CLIChild.limit) (killed): the input was accepted")
        }
        for text in input.mentions {
            #expect(run.stderr.contains(text), "stderr lacks \(text.debugDescription): \(run.stderr)")
        }
    }

    @Test func infoShowsTheRingSizeAskedForByNetpollURingEntries() throws {
        let run = try CLIChild.run(["info"], environment: ["NETPOLL_URING_ENTRIES": "2"])
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
            let fd = try connectLoopback(port: port)
            defer { close(fd) }
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
            let fd = try connectLoopback(port: port)
            defer { close(fd) }
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
        let server = try CLIChild(["echo-server", "--loops", "1", "--port", "0"] + options, environment: [:])
        defer { server.stop() }
        let line = try #require(server.firstLine(), "no `listening on` line within \(CLIChild.limit); stderr: \(server.stderrText)")
        let port = try #require(line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { UInt16($0) } : nil,
                                "unexpected first line \(line.debugDescription)")
        try body(port)
    }
}

// MARK: the child process

/// `netpoll` run as a child (posix_spawn) with stdout and stderr on pipes (socket
/// pairs), stdin
/// from /dev/null, and the runner's environment minus its NETPOLL_* variables
/// plus the test's own. Every wait is bounded by ``limit``.
private final class CLIChild {
    static let limit: Duration = .seconds(10)

    enum Status: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        /// Still running at ``limit``, then killed.
        case killedAfterLimit

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signalled(let signal): return "killed by signal \(signal)"
            case .killedAfterLimit: return "still running after \(CLIChild.limit), killed"
            }
        }
    }

    struct Run {
        var status: Status
        var stdout: String
        var stderr: String
    }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    private let out: Int32
    private let err: Int32
    private var outBytes: [UInt8] = []
    private var errBytes: [UInt8] = []
    private var reaped = false

    var stderrText: String { String(decoding: errBytes, as: UTF8.self) }

    /// `netpoll` next to the test binary (this process: /proc/self/exe, or
    /// argv[0]); a clear failure when it was not built.
    static func binary() throws -> String {
        var dirs: [String] = []
        for path in ["/proc/self/exe", CommandLine.arguments.first ?? ""] where path.contains("/") {
            guard let real = realpath(path, nil) else { continue }
            let resolved = String(cString: real)
            free(real)
            if let slash = resolved.lastIndex(of: "/") { dirs.append(String(resolved[..<slash])) }
        }
        let candidates = dirs.map { $0 + "/netpoll" }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw SpawnError(description: "the netpoll executable was not found beside the test binary "
                + "(looked for \(candidates)); build it with `swift build --build-tests`")
        }
        return found
    }

    init(_ arguments: [String], environment: [String: String]) throws {
        let path = try Self.binary()
        // Socket pairs rather than pipes: created close-on-exec atomically (Glibc's
        // module has no pipe2), so a child another test spawns meanwhile cannot
        // inherit our write ends and keep them open.
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &outPipe) == 0 else { throw SpawnError(description: "socketpair: errno \(errno)") }
        guard socketpair(AF_UNIX, kind, 0, &errPipe) == 0 else {
            close(outPipe[0])
            close(outPipe[1])
            throw SpawnError(description: "socketpair: errno \(errno)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var env: [String] = []
        var entry = environ
        while let e = entry.pointee {
            let s = String(cString: e)
            if !s.hasPrefix("NETPOLL_") { env.append(s) }
            entry += 1
        }
        env += environment.map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnError(description: "posix_spawn \(path): errno \(rc)")
        }
        self.pid = pid
        self.out = outPipe[0]
        self.err = errPipe[0]
    }

    deinit {
        stop()
        close(out)
        close(err)
    }

    /// Runs `netpoll arguments…` to its end: output until both pipes close, then
    /// the status; killed with SIGKILL when that takes longer than ``limit``.
    static func run(_ arguments: [String], environment: [String: String]) throws -> Run {
        let child = try CLIChild(arguments, environment: environment)
        let deadline = ContinuousClock.now + limit
        var open: Set<Int32> = [child.out, child.err]
        while !open.isEmpty && ContinuousClock.now < deadline {
            for fd in child.readable(open, until: deadline) where !child.drain(fd) { open.remove(fd) }
        }
        var status: Status
        if open.isEmpty {
            status = child.reap()
        } else {
            kill(child.pid, SIGKILL)
            _ = child.reap()
            status = .killedAfterLimit
        }
        return Run(status: status, stdout: String(decoding: child.outBytes, as: UTF8.self), stderr: child.stderrText)
    }

    /// The first line on stdout, waited for at most ``limit``; nil if none came.
    func firstLine() -> String? {
        let deadline = ContinuousClock.now + Self.limit
        var open: Set<Int32> = [out, err]
        while ContinuousClock.now < deadline {
            if let newline = outBytes.firstIndex(of: UInt8(ascii: "\n")) {
                return String(decoding: outBytes[..<newline], as: UTF8.self)
            }
            guard open.contains(out) else { return nil }
            for fd in readable(open, until: deadline) where !drain(fd) { open.remove(fd) }
        }
        return nil
    }

    /// SIGTERM, then SIGKILL if the child is still there after ``limit``.
    func stop() {
        guard !reaped else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + Self.limit
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return
            }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        _ = reap()
    }

    private func reap() -> Status {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    private func readable(_ fds: Set<Int32>, until deadline: ContinuousClock.Instant) -> [Int32] {
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let left = deadline - .now
        let ms = Int32(clamping: max(0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
        guard poll(&polls, nfds_t(polls.count), ms) > 0 else { return [] }
        return polls.filter { $0.revents != 0 }.map(\.fd)
    }

    /// Reads what is there; false at end of file.
    private func drain(_ fd: Int32) -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { return true }
        guard n > 0 else { return false }
        if fd == out { outBytes += buf[0..<n] } else { errBytes += buf[0..<n] }
        return true
    }
}

// MARK: sockets

private func connectLoopback(port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket", errno: errno) }
    // Every wait below is bounded: a server that never answers fails the test.
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        let e = errno
        close(fd)
        throw SocketError(call: "connect 127.0.0.1:\(port)", errno: e)
    }
    return fd
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

private struct SocketError: Error {
    let call: String
    let errno: Int32
}
