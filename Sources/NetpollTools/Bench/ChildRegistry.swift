import Glibc

/// Every child the bench has running, so that Ctrl-C, SIGTERM or an early exit
/// never leaves a server or load client behind. Each child leads its own
/// process group; cleanup kills the whole group.
///
/// The table is a fixed C array touched from a signal handler, hence no Swift
/// collections and no locks: it is written only by the bench's one
/// orchestrating thread, and the handler only reads it.
enum ChildRegistry {
    private static let capacity = 64
    nonisolated(unsafe) private static let pids: UnsafeMutablePointer<pid_t> = {
        let table = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        table.initialize(repeating: 0, count: capacity)
        return table
    }()
    nonisolated(unsafe) private static var installed = false

    static func add(_ pid: pid_t) {
        installHandlers()
        for index in 0..<capacity where pids[index] == 0 {
            pids[index] = pid
            return
        }
    }

    static func remove(_ pid: pid_t) {
        for index in 0..<capacity where pids[index] == pid {
            pids[index] = 0
        }
    }

    /// Async-signal-safe: only kill(2) on the recorded groups.
    static func killAll() {
        for index in 0..<capacity where pids[index] > 0 {
            kill(-pids[index], SIGKILL)
            kill(pids[index], SIGKILL)
        }
    }

    private static func installHandlers() {
        guard !installed else { return }
        installed = true
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            ChildRegistry.killAll()
            _exit(128 + signal)
        }
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaction(signal, &action, nil)
        }
        atexit { ChildRegistry.killAll() }
    }
}
