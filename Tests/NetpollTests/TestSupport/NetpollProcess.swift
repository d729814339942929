import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `netpoll` CLI that `swift test` builds beside the test bundle, run as a child
/// process. For what cannot run inside the test runner: a crash under descriptor
/// exhaustion kills the whole process, and bad command lines must be seen as a
/// user sees them (exit status, stderr).
final class NetpollProcess {
    enum Status: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        case stillRunning

        var description: String {
            switch self {
            case .exited(let c): return "exited with status \(c)"
            case .signalled(let s): return "killed by signal \(s) (\(String(cString: strsignal(s))))"
            case .stillRunning: return "still running"
            }
        }
    }

    let pid: pid_t
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private var stdoutBuffer: [UInt8] = []
    private(set) var status: Status = .stillRunning

    /// The `netpoll` executable next to this test bundle, if it was built.
    static var binary: String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        var dirs: [String] = []
        if n > 0 {
            let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            dirs.append(String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)]))
        }
        if let arg0 = CommandLine.arguments.first, let slash = arg0.lastIndex(of: "/") {
            // The test bundle may be run by a launcher (swiftpm-testing-helper).
            var dir = String(arg0[..<slash])
            if dir.hasSuffix(".xctest/Contents/MacOS") { dir = String(dir.dropLast(".xctest/Contents/MacOS".count)) }
            dirs.append(dir)
        }
        for dir in dirs {
            let path = dir + "/netpoll"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// Starts `netpoll arguments…` with `environment` added to ours (less our own
    /// NETPOLL_* variables) and, when given,
    /// a soft and hard `RLIMIT_NOFILE` of `fileLimit` (set by `/bin/sh`'s `ulimit`
    /// before it execs the binary, since posix_spawn cannot set limits).
    init(
        _ arguments: [String], environment: [String: String] = [:], fileLimit: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        guard let binary = Self.binary else {
            Issue.record("the netpoll executable was not found beside the test bundle (swift test builds it)", sourceLocation: sourceLocation)
            throw ProcessError.noBinary
        }
        var argv = [binary] + arguments
        if let fileLimit {
            argv = ["/bin/sh", "-c", "ulimit -n \(fileLimit) && exec \"$0\" \"$@\""] + argv
        }
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            // The runner's own NETPOLL_* settings would make a child's backend depend on
            // how the suite was started: children see only what the test passes.
            if let eq = s.firstIndex(of: "="), !s.hasPrefix("NETPOLL_") {
                env[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        for (k, v) in environment { env[k] = v }

        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw ProcessError.spawn(errno) }
        // Close-on-exec, so other children the test process spawns do not hold them.
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for a in cArgs { free(a) }
            for e in cEnv { free(e) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, nil, cArgs, cEnv)
        Glibc.close(out[1])
        Glibc.close(err[1])
        guard rc == 0 else {
            Glibc.close(out[0])
            Glibc.close(err[0])
            throw ProcessError.spawn(rc)
        }
        pid = child
        stdoutFD = out[0]
        stderrFD = err[0]
        for fd in [stdoutFD, stderrFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// What a command that runs to completion left behind.
    struct Run {
        /// `.stillRunning` means it was still running after the limit and was killed.
        let status: Status
        let stdout: String
        let stderr: String
    }

    /// Runs `netpoll arguments…` to completion, killing it after `limit`.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], within limit: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Run {
        let child = try NetpollProcess(arguments, environment: environment, sourceLocation: sourceLocation)
        var out: [UInt8] = []
        let deadline = ContinuousClock.now + limit
        while child.reap() == .stillRunning && ContinuousClock.now < deadline {
            child.drainStdout(into: &out)
            usleep(5_000)
        }
        let status = child.status
        if status == .stillRunning { child.signal(SIGKILL) }
        child.drainStdout(into: &out)
        return Run(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: child.stderrText())
    }

    private func drainStdout(into out: inout [UInt8]) {
        out += stdoutBuffer
        stdoutBuffer.removeAll()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            out += chunk[0..<n]
        }
    }

    /// The port of a server's first line, `listening on HOST:PORT`, waited for at most
    /// `limit`.
    func listeningPort(within limit: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let line = try #require(readLine(within: limit), "no `listening on` line; stderr: \(stderrText())", sourceLocation: sourceLocation)
        let port = line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { Int($0) } : nil
        return try #require(port, "unexpected first line \(line.debugDescription)", sourceLocation: sourceLocation)
    }

    enum ProcessError: Error {
        case noBinary
        case spawn(Int32)
    }

    deinit {
        if status == .stillRunning {
            kill(pid, SIGKILL)
            _ = wait(within: .seconds(5))
        }
        Glibc.close(stdoutFD)
        Glibc.close(stderrFD)
    }

    /// The next line on the child's stdout, or nil at end of stream or after `limit`.
    func readLine(within limit: Duration) -> String? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let nl = stdoutBuffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: stdoutBuffer[..<nl], as: UTF8.self)
                stdoutBuffer.removeSubrange(...nl)
                return line
            }
            let left = deadline - .now
            if left <= .zero { return nil }
            var pfd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            if Glibc.poll(&pfd, 1, ms) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { return nil }
            stdoutBuffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Everything the child has written to stderr so far.
    func stderrText() -> String {
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(stderrFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            all.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: all, as: UTF8.self)
    }

    func signal(_ sig: Int32) { if status == .stillRunning { kill(pid, sig) } }

    /// Reaps the child if it has ended, without waiting.
    @discardableResult
    func reap() -> Status {
        guard status == .stillRunning else { return status }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid { status = Self.decode(st) }
        return status
    }

    /// Waits up to `limit` for the child to end; `.stillRunning` if it did not.
    func wait(within limit: Duration) -> Status {
        let deadline = ContinuousClock.now + limit
        while reap() == .stillRunning && ContinuousClock.now < deadline {
            usleep(10_000)
        }
        return status
    }

    private static func decode(_ st: Int32) -> Status {
        let sig = st & 0x7f
        return sig == 0 ? .exited((st >> 8) & 0xff) : .signalled(sig)
    }
}
