import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread, one poller, a job queue and a timer heap: the part of Go's
/// scheduler that drives netpoll (`findRunnable` → `netpoll(0)`, `stopm` →
/// `netpoll(delay)`), as a Swift `TaskExecutor`.
///
/// Run loop, each turn:
/// 1. take work enqueued from other threads (one lock, only when flagged);
/// 2. run the ready jobs as one batch (jobs they enqueue wait for the next turn);
/// 3. fire due timers;
/// 4. poll: `timeout: .zero` while work is pending, otherwise until the next timer,
///    after announcing `sleeping` so other threads know to `wake()` it.
///
/// A task that prefers this executor and is resumed on this thread (by an event,
/// a timer, or another task here) is appended to the local queue without a lock
/// and continues on this thread: no hop.
public final class EventLoop: TaskExecutor, @unchecked Sendable, CustomStringConvertible {
    enum Work {
        /// Enqueued through the `TaskExecutor` conformance (a task that prefers this loop).
        case job(UnownedJob)
        /// Enqueued through ``isolation``'s serial executor.
        case isolatedJob(UnownedJob)
        case closure(@Sendable () -> Void)
        /// A ring buffer a reader on another thread is done with (completion mode).
        case recycle(UInt16)
    }

    public let index: Int
    public let backend: Backend
    let timers = TimerHeap()
    let stats = LoopStatsStorage()
    /// Buffers borrowed by reads; its free list is touched on this thread only.
    let readBuffers = ReadBufferPool()

    // Loop thread only.
    var poller: AnyPoller?
    /// The loop-thread state every event and every job touches, behind a pointer
    /// rather than in stored `var`s: a class's stored `var` costs a dynamic
    /// exclusivity check on each access (one per resumed task, for the run queue),
    /// and read from the event closure also a copy of the struct (a retain and a
    /// release of each of the cache's three arrays per event). Freed in `deinit`.
    /// See docs/runtime-tricks.md#loop-local.
    struct LoopLocal {
        var cache = PollCache()
        var runQueue: [Work] = []
        var running: [Work] = []

        /// The queued work becomes the batch to run; the queue takes the emptied
        /// array of the last batch, so a steady state allocates nothing.
        mutating func takeBatch() { swap(&runQueue, &running) }
    }
    let local: UnsafeMutablePointer<LoopLocal> = {
        let p = UnsafeMutablePointer<LoopLocal>.allocate(capacity: 1)
        p.initialize(to: LoopLocal())
        return p
    }()
    // Into `local`, with no copy and no check (see docs/runtime-tricks.md#loop-local).
    var cache: PollCache {
        _read { yield local.pointee.cache }
        _modify { yield &local.pointee.cache }
    }
    var runQueue: [Work] {
        _read { yield local.pointee.runQueue }
        _modify { yield &local.pointee.runQueue }
    }
    var running: [Work] {
        _read { yield local.pointee.running }
        _modify { yield &local.pointee.running }
    }
    var timerScratch: [TimerHeap.Entry] = []
    var stopping = false

    // Shared. `remote` is the cross-thread queue; `hasRemote` lets the loop skip its
    // lock when nothing was sent; `sleeping` tells senders a wake() is needed.
    // `sleeping` and `hasRemote` pair as a Dekker handshake (both sequentially
    // consistent): the loop stores sleeping then loads hasRemote, a sender stores
    // hasRemote then loads sleeping, so at least one of them sees the other.
    let remote = Mutex<(work: [Work], stopped: Bool)>(([], false))
    let hasRemote = Atomic<Bool>(false)
    let sleeping = Atomic<Bool>(false)
    let shutdownRequested = Atomic<Bool>(false)
    var thread: pthread_t?
    /// Set once on the loop thread before `init` returns; read by waking threads.
    var pollerWaker: AnyPoller?
    /// The loop thread's start-up report: nil until it has created its poller. A
    /// Mutex (not a DispatchSemaphore) so ThreadSanitizer sees the hand-over.
    let startup = Mutex<Result<PollerFeatures, NetpollError>?>(nil)
    /// What the poller runs with (fixed once the loop has started).
    public var features: PollerFeatures {
        if case .success(let f) = startup.locked({ $0 }) { return f }
        return PollerFeatures(backend: backend.kind.rawValue, details: [])
    }
    /// The poller reports readiness only after `arm` (one-shot io_uring), as its
    /// poller says. Stored once on the loop thread before `init` returns (the start-up
    /// hand-over orders it before any other thread sees this loop); an atomic rather
    /// than a `var` so the read on every park is a plain load, not a dynamic
    /// exclusivity check (see docs/runtime-tricks.md#exclusivity).
    var armsOnDemand: Bool { armsOnDemandFlag.load(ordering: .relaxed) }
    let armsOnDemandFlag = Atomic<Bool>(false)

    /// Starts the loop's thread and its poller. Throws if the poller cannot be
    /// created (e.g. io_uring forbidden); no thread is left behind then.
    public init(index: Int = 0, backend: Backend) throws(NetpollError) {
        self.index = index
        self.backend = backend
        runQueue.reserveCapacity(256)
        running.reserveCapacity(256)
        _ = LoopResume.hookInstalled
        let serial = LoopSerialExecutor(loop: self)
        isolationStorage = LoopIsolation(serial)
        serialExecutor = serial.asUnownedSerialExecutor()
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            loop.threadMain()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            throw .failed("pthread_create", errno: rc)  // pthreads return the errno
        }
        // Start-up is a one-off: a short sleep-poll is simpler than a condition variable.
        var report = startup.locked { $0 }
        while report == nil {
            usleep(50)
            report = startup.locked { $0 }
        }
        thread = tid
        if case .failure(let e) = report {
            pthread_join(tid, nil)
            thread = nil
            throw e
        }
    }

    public var description: String { "EventLoop(\(index), \(backend))" }

    /// True on this loop's own thread.
    @inline(__always)
    public var inEventLoop: Bool { cnp_current_loop() == Unmanaged.passUnretained(self).toOpaque() }

    /// The loop whose thread this is, if any.
    public static var current: EventLoop? {
        guard let p = cnp_current_loop() else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(p).takeUnretainedValue()
    }

    public var statistics: LoopStats { stats.snapshot }

    /// This loop as an actor (see ``LoopIsolation``). Set in `init` before the
    /// thread starts and never changed.
    public var isolation: LoopIsolation { isolationStorage.unsafelyUnwrapped }
    var isolationStorage: LoopIsolation?
    /// `isolation`'s executor, as the run loop passes it on every isolated job.
    var serialExecutor: UnownedSerialExecutor?

    // MARK: TaskExecutor

    var stopped: Bool { remote.locked { $0.stopped } }

    // MARK: the thread

    func threadMain() {
        cnp_set_current_loop(Unmanaged.passUnretained(self).toOpaque())
        cnp_set_thread_name("netpoll-\(index)")
        do throws(NetpollError) {
            let p = try AnyPoller(backend)
            poller = p
            armsOnDemandFlag.store(p.contract.armsOnDemand, ordering: .relaxed)
            remote.locked { _ in pollerWaker = p }
            let f = p.contract.features
            startup.locked { $0 = .success(f) }
        } catch {
            startup.locked { $0 = .failure(error) }
            cnp_set_current_loop(nil)
            return
        }
        runLoop()
        finish()
    }

    func runLoop() {
        guard let poller else { return }
        // The closures live only inside this call, which runs on self's own thread,
        // so self outlives them: they hold it unretained and use it as a guaranteed
        // reference. (An `unowned(unsafe)` capture is still retained and released
        // around each use, and plain `unowned` costs a strong-retain check as well.)
        // See docs/runtime-tricks.md#guaranteed-ref.
        let me = Unmanaged.passUnretained(self)
        let body: (PollToken, PollEvents) -> Void = { token, events in
            me._withUnsafeGuaranteedRef { $0.deliver(token, events) }
        }
        let receiveCap = poller.contract.receiveCap
        let received: (PollToken, RingReceipt) -> Void = { token, receipt in
            me._withUnsafeGuaranteedRef { $0.deliver(token, receipt, cap: receiveCap) }
        }
        while true {
            if hasRemote.load(ordering: .relaxed) { takeRemote() }
            if !runQueue.isEmpty { runBatch() }
            let nextTimer = timers.next.load(ordering: .acquiring)
            if nextTimer != Int64.max && nextTimer <= cnp_nanotime() { fireTimers() }
            if shutdownRequested.load(ordering: .acquiring) && !stopping { beginStopping() }

            var timeout: Duration? = .zero
            if runQueue.isEmpty {
                if stopping { break }
                sleeping.store(true, ordering: .sequentiallyConsistent)
                if hasRemote.load(ordering: .sequentiallyConsistent) || shutdownRequested.load(ordering: .sequentiallyConsistent) {
                    timeout = .zero
                } else {
                    let next = timers.next.load(ordering: .acquiring)
                    timeout = next == Int64.max ? nil : .nanoseconds(max(0, next - cnp_nanotime()))
                }
            }
            if timeout == .zero {
                stats.pollCallsNonblocking.wrappingAdd(1, ordering: .relaxed)
            } else {
                stats.pollCallsBlocking.wrappingAdd(1, ordering: .relaxed)
                // What the batch changed (ring buffers recycled) is visible while the
                // loop sleeps, not only after its next wakeup.
                publishPollerCounters(poller)
            }
            do {
                _ = try poller.poll(timeout: timeout, body, received: received)
            } catch {
                // A poller failure is not something a retry fixes quickly; report it and
                // back off instead of spinning.
                NetpollLog.log(.error, "loop \(index): poll failed: \(error)")
                usleep(1000)
            }
            sleeping.store(false, ordering: .relaxed)
            publishPollerCounters(poller)
        }
    }

    /// One readiness event: Go's netpollready for the PollDesc the token names, if
    /// it is still current (a stale token's descriptor was closed or reused).
    @inline(__always)
    func deliver(_ token: PollToken, _ events: PollEvents) {
        guard let ref = cache.lookupUnretained(token) else {
            stats.staleEvents.wrappingAdd(1, ordering: .relaxed)
            return
        }
        stats.events.wrappingAdd(1, ordering: .relaxed)
        // No retain: see docs/runtime-tricks.md#guaranteed-ref.
        ref._withUnsafeGuaranteedRef { pd in
            pd.setEventErr(events.contains(.error), seq: token.seq)
            pd.ready(events)  // model: NETPOLLREADY_RD / NETPOLLREADY_WR; RING_POLLIN_READY
        }
    }

    /// One completion-mode receipt (RingReceiveQueue.swift) for the PollDesc the
    /// token names; a stale one's ring buffer goes straight back to the ring.
    @inline(__always)
    func deliver(_ token: PollToken, _ receipt: RingReceipt, cap: Int) {
        guard let ref = cache.lookupUnretained(token) else {
            switch receipt {
            case .data(let bid, _, _, _): recycleReceiveBuffer(bid)
            case .accepted(let fd, _): Glibc.close(fd)  // the listener closed meanwhile
            default: break
            }
            stats.staleEvents.wrappingAdd(1, ordering: .relaxed)
            return
        }
        stats.events.wrappingAdd(1, ordering: .relaxed)
        switch receipt {
        case .accepted, .acceptEnded:
            // No retain: see docs/runtime-tricks.md#guaranteed-ref.
            return ref._withUnsafeGuaranteedRef { deliverAccepted(receipt, to: $0) }
        default:
            break
        }
        // The reader holds its cap of ring buffers: stop its RECV. (No retain: see
        // docs/runtime-tricks.md#guaranteed-ref.)
        let stop = ref._withUnsafeGuaranteedRef { $0.ringReceived(receipt, cap: cap) }
        if stop { poller?.contract.stopReceiving(token: token) }
    }

    /// A listener's receipt (URingPoller+Accept.swift). A connection the ACCEPT took
    /// at or above the descriptor reserve line is closed and reported as EMFILE, as
    /// accept4's is (``DescriptorLimit``) — and the ACCEPT is stopped, or it would go
    /// on taking the backlog into the reserve. Connections the kernel took in the
    /// same wakeup past the line are closed too (their clients see a reset); the
    /// accept loop's back-off then waits for room before it accepts again, so queued
    /// clients stay in the backlog.
    func deliverAccepted(_ receipt: RingReceipt, to pd: PollDesc) {
        guard case .accepted(let fd, let ended) = receipt, !DescriptorLimit.admits(fd) else {
            return pd.ringAccepted(receipt)
        }
        Glibc.close(fd)
        if !ended { poller?.contract.stopReceiving(token: pd.token) }
        pd.ringAccepted(.acceptEnded(EMFILE))
    }

    func publishPollerCounters(_ poller: AnyPoller) {
        let c = poller.contract.counters
        stats.pollSyscalls.store(c.syscalls, ordering: .relaxed)
        stats.rearms.store(c.rearms, ordering: .relaxed)
        stats.ringBuffersHeld.store(c.receiveBuffersHeld, ordering: .relaxed)
        stats.receiveStarved.store(c.receiveStarved, ordering: .relaxed)
        stats.receiveCapped.store(c.receiveCapped, ordering: .relaxed)
        // Stale events dropped inside the poller (uring) add to those dropped here.
        stats.pollerStaleEvents.store(c.staleEvents, ordering: .relaxed)
    }

    func takeRemote() {
        hasRemote.store(false, ordering: .sequentiallyConsistent)
        remote.locked { r in
            runQueue.append(contentsOf: r.work)
            r.work.removeAll(keepingCapacity: true)
        }
    }

    func runBatch() {
        local.pointee.takeBatch()
        let executor = asUnownedTaskExecutor()
        let serial = serialExecutor.unsafelyUnwrapped
        for work in running {
            switch work {
            case .job(let job): job.runSynchronously(on: executor)
            case .isolatedJob(let job): job.runSynchronously(on: serial)
            case .closure(let body): body()
            case .recycle(let bid): poller?.recycle(buffer: bid)
            }
        }
        stats.jobsRun.wrappingAdd(UInt64(running.count), ordering: .relaxed)
        running.removeAll(keepingCapacity: true)
    }

    func fireTimers() {
        let n = timers.fireExpired(now: cnp_nanotime(), into: &timerScratch)
        if n > 0 { stats.timersFired.wrappingAdd(UInt64(n), ordering: .relaxed) }
    }

    // MARK: idle sweep

    deinit {
        local.deinitialize(count: 1)
        local.deallocate()
    }

}
