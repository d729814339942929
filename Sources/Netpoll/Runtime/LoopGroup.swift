import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of EventLoops sharing one backend (Go: the Ps that run netpoll).
///
/// `NETPOLL_LOOPS` sets the size of `shared` (default: the CPUs this process may
/// run on). New descriptors go to ``next()`` round-robin, or to the caller's own
/// loop where that keeps work on one thread (see the Net layer).
public final class LoopGroup: Sendable {
    public let loops: [EventLoop]
    public let backend: Backend
    private let cursor = Atomic<Int>(0)
    private let isShutDownFlag = Atomic<Bool>(false)

    /// Starts `loops` event loops (nil: `NETPOLL_LOOPS`, else the CPU count) on
    /// `backend` (nil: `NETPOLL_BACKEND`, read once per process).
    ///
    /// A count outside ``Settings/loops`` (1...1024), or a bad `NETPOLL_*` variable
    /// when one is read, throws ``NetpollError/invalidSetting(name:value:allowed:)``
    /// naming `loops` or the variable.
    public init(loops: Int? = nil, backend: Backend? = nil) throws {
        let n = try loops.map { n throws(NetpollError) in try Settings.check(n, name: "loops", in: Settings.loops) }
            ?? LoopGroup.loopsFromEnvironment()
        let b = try backend ?? Backend.fromEnvironment()
        var started: [EventLoop] = []
        do {
            for i in 0..<n { started.append(try EventLoop(index: i, backend: b)) }
        } catch {
            for l in started { l.requestShutdown() }
            for l in started { l.join() }
            throw error
        }
        self.loops = started
        self.backend = b
    }

    /// CPUs this process may run on (sched_getaffinity): the default group size.
    public static var availableCPUs: Int { Int(cnp_cpu_count()) }

    /// `NETPOLL_LOOPS` (checked with the other `NETPOLL_*` variables, from
    /// ``Backend/processEnvironment``), else the CPU count.
    static func loopsFromEnvironment() throws(NetpollError) -> Int {
        try Settings.Environment(parsing: Backend.processEnvironment).loopCount
    }

    /// The next loop, round-robin.
    public func next() -> EventLoop {
        loops[cursor.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    /// A round-robin of its own over this group's loops: each listener keeps one, so
    /// its accepted connections spread evenly whatever else draws from ``next()``
    /// (a test or proxy that dials and accepts on one group would otherwise land
    /// every accepted connection on the same loop).
    public final class Spreader: Sendable {
        private let cursor = Atomic<Int>(0)
        public init() {}
        public func next(in group: LoopGroup) -> EventLoop {
            group.loops[cursor.wrappingAdd(1, ordering: .relaxed).oldValue % group.loops.count]
        }
    }

    /// The loop running the current thread when it belongs to this group.
    public var current: EventLoop? {
        guard let l = EventLoop.current, loops.contains(where: { $0 === l }) else { return nil }
        return l
    }

    /// Counters of every loop, summed.
    public var statistics: LoopStats { loops.reduce(LoopStats()) { $0 + $1.statistics } }

    /// True once ``shutdown()`` has been called (its loops then stop, or have stopped).
    public var isShutDown: Bool { isShutDownFlag.load(ordering: .acquiring) }

    /// Stops every loop: descriptors still open are evicted (blocked tasks get
    /// ``NetpollError/netClosing``), queued work runs, threads are joined and the
    /// pollers closed. Tasks that continue afterwards run on the global executor.
    /// Must not be called from one of the group's own loop threads.
    public func shutdown() {
        guard !isShutDownFlag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for l in loops { l.requestShutdown() }
        for l in loops { l.join() }
    }

    private static let sharedGroup = Mutex<LoopGroup?>(nil)

    /// The process-wide group, created on first use from the environment.
    public static func shared() throws -> LoopGroup {
        try sharedGroup.locked { g in
            if let g { return g }
            let new = try LoopGroup()
            g = new
            return new
        }
    }
}
