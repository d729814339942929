import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Choosing a backend: probing what this machine allows, and reading the
// environment (once per process). The rules for each variable are in Settings.swift.
extension Backend {
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
        let sysctl = Sysctl.read("/proc/sys/kernel/io_uring_disabled")
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
                let p = try EpollPoller(options: .init(eventCapacity: 1))
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
        var options = options
        if let mode = choice.uringMode { options.mode = mode }
        switch choice {
        case .epoll:
            return (.epoll, nil)
        case .uring, .uringMultishot, .uringOneshot, .uringCompletion:
            if case .unusable(let reason) = probeURing(options) {
                throw .backendUnavailable(backend: "uring", reason: reason)
            }
            return (.uring(options), nil)
        case .auto:
            let pick = autoSelection(uring: options)
            return (pick.backend, pick.backend.kind == .epoll ? pick.reason : nil)
        }
    }

    /// What `auto` picks here, and why. io_uring only in the configuration this
    /// project measured to be no slower than epoll: multishot `POLL_ADD` (unless
    /// `NETPOLL_URING_MODE` asks for another mode) on a ring with `DEFER_TASKRUN`
    /// (Linux 6.1+), level with epoll per message and with fewer system calls per
    /// connection under churn. Completion mode is not picked: it measured behind
    /// epoll at 512 connections. Without `DEFER_TASKRUN` task work runs on every
    /// interrupt and wake, which made the POLL_ADD server far slower than epoll, so
    /// such a kernel gets epoll. Otherwise epoll, with the reason. The figures
    /// behind each choice: docs/performance-log.md.
    public static func autoSelection(uring options: URingPoller.Options = .init(), modeExplicit: Bool = false)
        -> (backend: Backend, reason: String)
    {
        var options = options
        if !modeExplicit { options.mode = .multishot }
        options.setup = .deferTaskrun
        let sysctl = Sysctl.read("/proc/sys/kernel/io_uring_disabled")
        if sysctl == 2 {
            return (.epoll, "NETPOLL_BACKEND=auto: io_uring unusable (disabled by sysctl kernel.io_uring_disabled=2); using epoll")
        }
        if case .unusable(let reason) = probeURing(options) {
            return (.epoll, "NETPOLL_BACKEND=auto: io_uring \(options.mode.rawValue) mode unusable (\(reason)); using epoll")
        }
        let hasDefer: Bool = {
            guard let p = try? URingPoller(options: options) else { return false }
            defer { p.close() }
            return p.setupFlagNames.contains("DEFER_TASKRUN")
        }()
        guard hasDefer else {
            return (.epoll, "NETPOLL_BACKEND=auto: the kernel has no IORING_SETUP_DEFER_TASKRUN (Linux 6.1+), without which io_uring measured slower than epoll here; using epoll")
        }
        return (.uring(options), "NETPOLL_BACKEND=auto: io_uring \(options.mode.rawValue) mode with DEFER_TASKRUN, measured no slower than epoll (and fewer system calls per connection)")
    }

    /// Resolves the backend from an environment (a dictionary, so tests can pass one).
    /// Every `NETPOLL_*` variable is checked first (``Settings/Environment``), so a
    /// bad one is reported by name even when it would not be used.
    public static func resolve(environment env: [String: String]) throws(NetpollError) -> (backend: Backend, note: String?) {
        let settings = try Settings.Environment(parsing: env)
        if settings.backend == .auto {
            // auto keeps a mode the environment asks for explicitly.
            let pick = autoSelection(uring: settings.uring, modeExplicit: env["NETPOLL_URING_MODE"].map { !$0.isEmpty } ?? false)
            return (pick.backend, pick.backend.kind == .epoll ? pick.reason : nil)
        }
        return try resolve(settings.backend, uring: settings.uring)
    }

    private static let cached = Mutex<Result<Backend, NetpollError>?>(nil)

    /// The backend the process environment selects; read once, then remembered.
    /// The `auto` fallback note is logged once (``NetpollLog``: stderr by default).
    public static func fromEnvironment() throws(NetpollError) -> Backend {
        let result = cached.locked { slot -> Result<Backend, NetpollError> in
            if let r = slot { return r }
            let r: Result<Backend, NetpollError>
            do throws(NetpollError) {
                let (b, note) = try resolve(environment: processEnvironment)
                if let note { NetpollLog.log(.notice, note) }
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
    public static let environmentKeys = Settings.variables.map(\.name)

    /// Those of ``environmentKeys`` set in this process (read now, not cached), for
    /// ``resolve(environment:)`` — e.g. with `NETPOLL_BACKEND` replaced by a flag.
    public static var processEnvironment: [String: String] {
        var env: [String: String] = [:]
        for key in environmentKeys {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return env
    }
}
