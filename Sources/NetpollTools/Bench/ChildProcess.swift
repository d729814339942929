import Glibc

/// A child process with its stdout and stderr captured through pipes, in its
/// own process group. The bench is single-threaded: it drives all children's
/// pipes with `ChildProcess.pump`, never a blocking read, so every wait has a deadline.
final class ChildProcess {
    let pid: pid_t
    let arguments: [String]
    private(set) var stdout: [UInt8] = []
    private(set) var stderr: [UInt8] = []
    /// Raw wait status once the child has been reaped.
    private(set) var waitStatus: Int32?
    private var stdoutFD: Int32
    private var stderrFD: Int32

    enum SpawnError: Error, CustomStringConvertible {
        case failed(String)
        var description: String {
            switch self { case .failed(let text): text }
        }
    }

    /// Starts `arguments[0]` (searched on PATH) with stdin from /dev/null.
    init(arguments: [String]) throws(SpawnError) {
        self.arguments = arguments
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        // pipe2 is not imported (a GNU extension); the bench spawns from one thread,
        // so setting close-on-exec right after pipe(2) cannot race another spawn.
        guard pipe(&outPipe) == 0 else { throw .failed("pipe: \(errnoText(errno))") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw .failed("pipe: \(errnoText(errno))")
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (cleanup kills the group; the terminal's Ctrl-C reaches
        // only the bench, which then cleans up), default signal handling, nothing blocked.
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        cArguments.append(nil)
        defer { for argument in cArguments { free(argument) } }

        var child: pid_t = 0
        let status = posix_spawnp(&child, arguments[0], &actions, &attributes, cArguments, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard status == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw .failed("cannot run \(arguments[0]): \(errnoText(status))")
        }
        pid = child
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
        _ = fcntl(stdoutFD, F_SETFL, fcntl(stdoutFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(stderrFD, F_SETFL, fcntl(stderrFD, F_GETFL) | O_NONBLOCK)
        ChildRegistry.add(pid)
    }

    deinit {
        if waitStatus == nil { forceKill() }
        if stdoutFD >= 0 { close(stdoutFD) }
        if stderrFD >= 0 { close(stderrFD) }
    }

    var hasExited: Bool { waitStatus != nil }

    /// Exit code if the child exited normally, nil if killed by a signal or still running.
    var exitCode: Int32? {
        guard let status = waitStatus, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// Human description of how the child ended ("exit status 1", "killed by signal 9").
    var endDescription: String {
        guard let status = waitStatus else { return "still running" }
        if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }

    /// Complete lines of stdout so far (a trailing partial line is left out until the child exits).
    var stdoutLines: [Substring] { Self.lines(stdout, includePartial: hasExited) }
    var stderrLines: [Substring] { Self.lines(stderr, includePartial: true) }

    private static func lines(_ bytes: [UInt8], includePartial: Bool) -> [Substring] {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if !(includePartial || text.hasSuffix("\n")) || lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Sends `signal` to the child's whole process group.
    func signal(_ signal: Int32) {
        guard waitStatus == nil else { return }
        kill(-pid, signal)
    }

    /// SIGKILL the group and reap.
    func forceKill() {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        if waitStatus == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, 0) == pid { waitStatus = status }
        }
        ChildRegistry.remove(pid)
    }

    /// Reads what is available and reaps the child if it has ended.
    fileprivate func service() {
        drain(&stdoutFD, into: &stdout)
        drain(&stderrFD, into: &stderr)
        if waitStatus == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                waitStatus = status
                // Stragglers the child may have left in its group go too.
                kill(-pid, SIGKILL)
                ChildRegistry.remove(pid)
                drain(&stdoutFD, into: &stdout)
                drain(&stderrFD, into: &stderr)
            }
        }
    }

    private func drain(_ fd: inout Int32, into buffer: inout [UInt8]) {
        guard fd >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                // Bounded: a chatty child must not grow the bench without limit.
                if buffer.count < 1 << 20 { buffer.append(contentsOf: chunk[0..<count]) }
            } else if count == 0 {
                close(fd)
                fd = -1
                return
            } else {
                return  // EAGAIN (or EINTR): nothing more for now
            }
        }
    }

    fileprivate var openDescriptors: [Int32] { [stdoutFD, stderrFD].filter { $0 >= 0 } }

    /// Services `children` until `done()` is true (returns true) or the monotonic
    /// `deadline` (ns) passes (returns false). Sleeps in poll(2), 50 ms at most,
    /// so children that exit without writing are noticed promptly.
    static func pump(_ children: [ChildProcess], until deadline: UInt64, done: () -> Bool) -> Bool {
        while true {
            for child in children { child.service() }
            if done() { return true }
            let now = monotonicNanos()
            if now >= deadline { return false }
            var entries = children.flatMap { $0.openDescriptors }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let millis = Int32(min((deadline - now) / 1_000_000 + 1, 50))
            _ = poll(&entries, nfds_t(entries.count), millis)
        }
    }
}
