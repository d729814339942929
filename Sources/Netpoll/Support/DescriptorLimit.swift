import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The process's descriptor budget, and the part of it Netpoll leaves alone.
///
/// Why a reserve: the Swift concurrency runtime's thread pool is libdispatch's, and
/// libdispatch's worker monitor opens `/proc/<tid>/stat` now and then. If that open
/// fails with `EMFILE` it aborts the whole process on purpose ("workq: registered
/// worker exited prematurely"). A server whose accept loop takes every last
/// descriptor therefore dies about half a second after reaching its limit, and its
/// own EMFILE back-off never gets a chance. So descriptors that Netpoll creates —
/// accepted connections, dialled and listening sockets — never stay in the top
/// ``reserve`` slots of the descriptor table:
///
/// - the kernel hands out the lowest free number, so a new descriptor numbered at or
///   above `limit − reserve` proves that every slot below it is taken;
/// - such a descriptor is closed at once and the operation fails with `EMFILE`, as
///   if the table were full, leaving `reserve` slots for the runtime;
/// - ``Listener/serve(_:)`` then stops accepting (it asks the kernel for the lowest
///   free number, without accepting, until a slot below the line frees up), so
///   queued clients wait in the listen backlog and are served as others close.
///
/// The check is one comparison with a cached line on the hot path; the limit is
/// re-read only when a descriptor lands at or above the line.
public enum DescriptorLimit {
    /// `limit − reserve`, cached; 0 until first computed.
    private static let cachedLine = Atomic<Int>(0)
    /// A reserve set in code, or -1 for the default.
    private static let configuredReserve = Atomic<Int>(-1)

    /// The soft `RLIMIT_NOFILE` now in force.
    public static var current: Int {
        var rl = rlimit()
        guard getrlimit(nofile, &rl) == 0 else { return Int(Int32.max) }
        return rl.rlim_cur == rlim_t.max ? Int(Int32.max) : Int(clamping: rl.rlim_cur)
    }

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft
    /// limit. Go's runtime does this at start-up since Go 1.19; a library cannot
    /// decide that for the process it lives in, so Netpoll offers it as this one
    /// call (the `netpoll` CLI makes it first thing). The soft limit stays low by
    /// default only for programs that still use `select(2)`, whose `fd_set` holds
    /// 1024 descriptors; Netpoll never uses `select`.
    @discardableResult
    public static func raiseToHardLimit() throws(NetpollError) -> Int {
        var rl = rlimit()
        try NetpollError.check("getrlimit(RLIMIT_NOFILE)") { getrlimit(nofile, &rl) }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max
            try NetpollError.check("setrlimit(RLIMIT_NOFILE)") { setrlimit(nofile, &rl) }
        }
        refresh()
        return current
    }

    /// Slots at the top of the descriptor table that Netpoll leaves to the rest of
    /// the process. Default: a sixteenth of the limit, at least 16 and at most 256,
    /// and never more than a quarter of the limit. Setting 0 turns the reserve off.
    public static var reserve: Int {
        get {
            let r = configuredReserve.load(ordering: .relaxed)
            return r >= 0 ? r : defaultReserve(for: current)
        }
        set {
            configuredReserve.store(max(0, newValue), ordering: .relaxed)
            refresh()
        }
    }

    static func defaultReserve(for limit: Int) -> Int {
        min(max(limit / 16, 16), 256, limit / 4)
    }

    /// The first descriptor number Netpoll will not keep.
    public static var line: Int {
        let l = cachedLine.load(ordering: .relaxed)
        return l > 0 ? l : refresh()
    }

    @discardableResult
    private static func refresh() -> Int {
        let limit = current
        let l = max(1, limit - reserve)
        cachedLine.store(l, ordering: .relaxed)
        return l
    }

    /// Whether a freshly created descriptor may be kept. Cheap unless `fd` is at or
    /// above the cached line, when the limit is read again (it may have been raised).
    @inline(__always)
    static func admits(_ fd: Int32) -> Bool {
        let l = cachedLine.load(ordering: .relaxed)
        if l > 0 && Int(fd) < l { return true }
        return Int(fd) < refresh()
    }

    /// Keeps `fd` if it is below the line; else closes it and throws `EMFILE`
    /// naming `syscall`, exactly as if the table had been full.
    @inline(__always)
    static func admit(_ fd: Int32, from syscall: String) throws(NetpollError) -> Int32 {
        if admits(fd) { return fd }
        Glibc.close(fd)
        throw .failed(syscall, errno: EMFILE)
    }

    /// Whether a new descriptor would land below the line now, asked without taking
    /// a connection from a backlog: duplicates `probe` to the lowest free number and
    /// closes the duplicate at once.
    static func hasRoom(probing probe: Int32) -> Bool {
        let d = fcntl(probe, F_DUPFD_CLOEXEC, 0)
        if d < 0 { return false }
        Glibc.close(d)
        return admits(d)
    }

    // Glibc imports RLIMIT_NOFILE as a case of __rlimit_resource on Linux.
    private static var nofile: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
