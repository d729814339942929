import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which readiness backend event loops use, and how it is chosen.
///
/// The environment is read once per process (``fromEnvironment()``):
///
/// | variable | values | default |
/// |---|---|---|
/// | `NETPOLL_BACKEND` | `epoll`, `uring`, `auto` | `epoll` (Go's behaviour) |
/// | `NETPOLL_LOOPS` | event loops of a group, 1...1024 (read by ``LoopGroup``) | CPUs this process may run on |
/// | `NETPOLL_URING_MODE` | `multishot`, `oneshot` | `multishot` |
/// | `NETPOLL_URING_SETUP` | `defer`, `coop`, `plain` | `defer` |
/// | `NETPOLL_URING_ENTRIES` | ring size: SQ entries, 1...32768 (the kernel rounds up to a power of two; the CQ has twice as many) | 256 |
///
/// Every variable is checked, whichever backend is chosen; a bad value is
/// ``NetpollError/invalidSetting(name:value:allowed:)`` naming the variable, the
/// value and what is allowed (the rules: ``Settings``).
/// A program may also pass a `Backend` in code (``LoopGroup/init(loops:backend:)``).
public struct Backend: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case epoll, uring
    }

    /// What a user may ask for.
    public enum Choice: String, Sendable, CaseIterable {
        case epoll, uring, auto

        /// Parses a backend name (any case); an unknown one is
        /// ``NetpollError/invalidSetting(name:value:allowed:)`` naming `name` and the
        /// valid values.
        public init(parsing value: String, name: String = "NETPOLL_BACKEND") throws(NetpollError) {
            self = try Settings.choice(value, name: name)
        }
    }

    public var kind: Kind
    /// Ring options; only read when `kind == .uring`.
    public var uring: URingPoller.Options

    public init(kind: Kind, uring: URingPoller.Options = .init()) {
        self.kind = kind
        self.uring = uring
    }

    public static let epoll = Backend(kind: .epoll)
    public static let uring = Backend(kind: .uring)
    public static func uring(_ options: URingPoller.Options) -> Backend { Backend(kind: .uring, uring: options) }

    public var description: String {
        switch kind {
        case .epoll: return "epoll"
        case .uring: return "uring(\(uring.mode.rawValue),\(uring.setup.rawValue))"
        }
    }

    /// A fresh poller of this kind. For io_uring, call it on the thread that will
    /// use the poller (SINGLE_ISSUER binds the ring to its creator).
    func makePoller() throws(NetpollError) -> AnyPoller {
        switch kind {
        case .epoll: return .epoll(try EpollPoller())
        case .uring: return .uring(try URingPoller(options: uring))
        }
    }

    // MARK: availability

    /// Whether a backend can be used here, and if not, why.
    public enum Availability: Sendable, Equatable {
        case usable
        case unusable(reason: String)
    }

    /// Probes io_uring with these options: the sysctl, io_uring_setup itself (EPERM
    /// from a seccomp profile or the sysctl, ENOSYS), the ring features, and a real
    /// poll through the ring (multishot support). Not cached: the answer can differ
    /// per thread under a per-thread seccomp filter.
    public static func probeURing(_ options: URingPoller.Options = .init()) -> Availability {
        let sysctl = readSysctl("/proc/sys/kernel/io_uring_disabled")
        if sysctl == 2 {
            return .unusable(reason: "io_uring is disabled by sysctl kernel.io_uring_disabled=2")
        }
        do {
            let p = try URingPoller(options: options)
            defer { p.close() }
            try p.selfTest()
            return .usable
        } catch let error {
            switch error {
            case .system(_, EPERM), .system(_, EACCES):
                if sysctl == 1 {
                    return .unusable(reason: "io_uring_setup returned EPERM: sysctl kernel.io_uring_disabled=1 and this process is not in kernel.io_uring_group")
                }
                return .unusable(reason: "io_uring_setup returned EPERM: forbidden by a seccomp profile (such as Docker's default) or a security module")
            case .system(_, ENOSYS):
                return .unusable(reason: "io_uring_setup returned ENOSYS: the kernel has no io_uring (CONFIG_IO_URING) or a filter hides it")
            case .backendUnavailable(_, let reason):
                return .unusable(reason: reason)
            default:
                return .unusable(reason: "io_uring could not be set up: \(error)")
            }
        }
    }

    public static func probe(_ backend: Backend) -> Availability {
        switch backend.kind {
        case .epoll:
            do {
                let p = try EpollPoller(eventCapacity: 1)
                p.close()
                return .usable
            } catch {
                return .unusable(reason: "\(error)")
            }
        case .uring:
            return probeURing(backend.uring)
        }
    }

    // MARK: selection

    /// Turns a choice into a backend. `uring` that cannot be used throws an error that
    /// says why; `auto` falls back to epoll and returns the reason as `note`.
    public static func resolve(_ choice: Choice, uring options: URingPoller.Options = .init())
        throws(NetpollError) -> (backend: Backend, note: String?)
    {
        switch choice {
        case .epoll:
            return (.epoll, nil)
        case .uring:
            if case .unusable(let reason) = probeURing(options) {
                throw .backendUnavailable(backend: "uring", reason: reason)
            }
            return (.uring(options), nil)
        case .auto:
            if case .unusable(let reason) = probeURing(options) {
                return (.epoll, "NETPOLL_BACKEND=auto: io_uring unusable (\(reason)); using epoll")
            }
            return (.uring(options), nil)
        }
    }

    /// Resolves the backend from an environment (a dictionary, so tests can pass one).
    /// Every `NETPOLL_*` variable is checked first (``Settings/Environment``), so a
    /// bad one is reported by name even when it would not be used.
    public static func resolve(environment env: [String: String]) throws(NetpollError) -> (backend: Backend, note: String?) {
        let settings = try Settings.Environment(parsing: env)
        return try resolve(settings.backend, uring: settings.uring)
    }

    private static let cached = Mutex<Result<Backend, NetpollError>?>(nil)

    /// The backend the process environment selects; read once, then remembered.
    /// The `auto` fallback note is printed once to stderr.
    public static func fromEnvironment() throws(NetpollError) -> Backend {
        let result = cached.locked { slot -> Result<Backend, NetpollError> in
            if let r = slot { return r }
            let r: Result<Backend, NetpollError>
            do throws(NetpollError) {
                let (b, note) = try resolve(environment: processEnvironment)
                if let note { printToStderr("netpoll: \(note)") }
                r = .success(b)
            } catch {
                r = .failure(error)
            }
            slot = r
            return r
        }
        return try result.get()
    }

    /// The variables Netpoll reads, in the order `netpoll info` shows them.
    public static let environmentKeys = [
        "NETPOLL_BACKEND", "NETPOLL_URING_MODE", "NETPOLL_URING_SETUP", "NETPOLL_URING_ENTRIES", "NETPOLL_LOOPS",
    ]

    /// Those of ``environmentKeys`` set in this process (read now, not cached), for
    /// ``resolve(environment:)`` — e.g. with `NETPOLL_BACKEND` replaced by a flag.
    public static var processEnvironment: [String: String] {
        var env: [String: String] = [:]
        for key in environmentKeys {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return env
    }

    static func readSysctl(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 31) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buf[0..<n], as: UTF8.self).trimmingWhitespace)
    }
}

func printToStderr(_ line: String) {
    var s = line
    s.append("\n")
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
