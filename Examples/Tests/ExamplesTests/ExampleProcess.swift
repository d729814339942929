import Netpoll
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One of the example servers, built beside this test bundle, run as a child with
/// `NETPOLL_BACKEND` set; killed (SIGTERM) when released.
final class ExampleProcess {
    let pid: pid_t
    let port: Int
    private let stdoutFD: Int32

    init(_ name: String, backend: Backend.Kind, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let binary = try #require(Self.binary(name), "\(name) was not built beside the tests", sourceLocation: sourceLocation)
        var out: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { throw NetpollError.system("pipe", errno) }
        _ = fcntl(out[0], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_addclose(&actions, out[0])
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        var env = ["NETPOLL_BACKEND=\(backend.rawValue)", "NETPOLL_LOOPS=2"]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if !s.hasPrefix("NETPOLL_") { env.append(s) }
            p += 1
        }
        let args: [String] = [binary, "0"]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, binary, &actions, nil, argv, envp)
        close(out[1])
        guard rc == 0 else {
            close(out[0])
            throw NetpollError.system("posix_spawn", rc)
        }
        pid = child
        stdoutFD = out[0]
        // The first line is `listening on 127.0.0.1:PORT`.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        var pfd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
        while byte != UInt8(ascii: "\n") {
            guard poll(&pfd, 1, 10_000) > 0, read(stdoutFD, &byte, 1) == 1 else { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        let parsed = text.hasPrefix("listening on ") ? text.split(separator: ":").last.flatMap { Int($0.dropLast()) } : nil
        guard let parsed else {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            close(stdoutFD)
            Issue.record("\(name): unexpected first line \(text.debugDescription)", sourceLocation: sourceLocation)
            throw NetpollError.invalidAddress(text)
        }
        port = parsed
    }

    /// True while the child runs.
    var isRunning: Bool {
        var st: Int32 = 0
        return waitpid(pid, &st, WNOHANG) == 0
    }

    deinit {
        kill(pid, SIGTERM)
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        close(stdoutFD)
    }

    static func binary(_ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        var dirs: [String] = []
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            dirs.append(String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)]))
        }
        if let arg0 = CommandLine.arguments.first, let slash = arg0.lastIndex(of: "/") {
            dirs.append(String(arg0[..<slash]))
        }
        return dirs.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }
}

/// The backends the examples are tested on; one this machine cannot run says why.
let backends: [Backend.Kind] = [.epoll, .uring]

func usable(_ kind: Backend.Kind) -> Bool {
    if case .unusable(let reason) = Backend.probe(Backend(kind: kind)) {
        print("skipped \(kind): \(reason)")
        return false
    }
    return true
}

/// A client connection with a read buffer, for line- and message-oriented checks.
final class Client {
    let conn: TCPConn
    private var buffer: [UInt8] = []

    init(port: Int, group: LoopGroup) async throws {
        conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
        try conn.setReadDeadline(.now + .seconds(20))
    }

    func send(_ text: String) async throws { try await conn.write(Array(text.utf8)) }

    /// Exactly `count` bytes, or fewer if the server closed first.
    func read(count: Int) async throws -> [UInt8] {
        while buffer.count < count {
            let chunk = try await conn.read(maxCount: 65536)
            if chunk.isEmpty { break }
            buffer += chunk
        }
        let n = min(count, buffer.count)
        defer { buffer.removeFirst(n) }
        return Array(buffer[..<n])
    }

    /// The next line without its "\n", or nil at end of stream.
    func readLine() async throws -> String? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                defer { buffer.removeSubrange(...nl) }
                return String(decoding: buffer[..<nl], as: UTF8.self)
            }
            let chunk = try await conn.read(maxCount: 65536)
            if chunk.isEmpty { return nil }
            buffer += chunk
        }
    }

    /// True once the server has closed the connection (end of stream).
    func readsEndOfStream() async throws -> Bool {
        buffer.isEmpty ? try await conn.read(maxCount: 1).isEmpty : false
    }
}

/// The examples' tests run servers as children: one at a time keeps them quick
/// on a small machine.
@Suite(.serialized) struct ExampleTests {}
