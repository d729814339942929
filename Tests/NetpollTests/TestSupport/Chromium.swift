import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium (Debian package `chromium`) for the test that checks the bench
/// report as a browser draws it. Absent on most CI machines: the test skips then.
///
/// Spawned with posix_spawn, its output going to files the child opens itself, so
/// the test process holds no extra descriptor a sibling's child could inherit
/// (Foundation's `Process` keeps sockets without close-on-exec while one runs).
enum Chromium {
    /// `NETPOLL_CHROMIUM`, else the first of the usual names on PATH.
    static let path: String? = {
        if let explicit = getenv("NETPOLL_CHROMIUM").map({ String(cString: $0) }), !explicit.isEmpty {
            return access(explicit, X_OK) == 0 ? explicit : nil
        }
        let directories = (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
            for directory in directories where access("\(directory)/\(name)", X_OK) == 0 {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }()

    static let skipReason: Comment = "headless Chromium not found (apt-get install chromium, or set NETPOLL_CHROMIUM)"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs headless Chromium on `arguments` with a private profile in `directory`;
    /// returns what it wrote to stdout. Killed, with everything it started, after `timeout`.
    static func run(_ arguments: [String], in directory: String, timeout: Duration = .seconds(90)) throws -> String {
        guard let path else { throw Failure(description: "chromium not found") }
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let stdoutPath = "\(directory)/chromium-\(tag).out"
        let stderrPath = "\(directory)/chromium-\(tag).err"
        // --no-sandbox: the tests may run as root, where Chromium refuses its sandbox.
        let argv = [path, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--hide-scrollbars", "--user-data-dir=\(directory)/profile-\(tag)"] + arguments

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group: a timeout kills the browser's helpers too.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, cArguments, environ)
        guard rc == 0 else { throw Failure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))") }

        var status: Int32 = 0
        let deadline = ContinuousClock.now + timeout
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure(description: "chromium did not finish within \(timeout)")
            }
            usleep(20_000)
        }
        let output = readWholeFile(stdoutPath) ?? ""
        guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else {
            throw Failure(description: "chromium ended with wait status \(status): \((readWholeFile(stderrPath) ?? "").suffix(2000))")
        }
        return output
    }
}

/// The file's bytes as UTF-8 text, or nil when it cannot be opened.
func readWholeFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
