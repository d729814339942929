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
    /// Buffers lent to borrowed reads; its free list is touched on this thread only.
    let readBuffers = ReadBufferPool()

    // Loop thread only.
    private var poller: AnyPoller?
    /// The loop-thread state every event and every job touches, behind a pointer
    /// rather than in stored `var`s: a class's stored `var` costs a dynamic
    /// exclusivity check on each access (one per resumed task, for the run queue),
    /// and read from the event closure also a copy of the struct (a retain and a
    /// release of each of the cache's three arrays per event). Freed in `deinit`.
    private struct LoopLocal {
        var cache = PollCache()
        var runQueue: [Work] = []
        var running: [Work] = []

        /// The queued work becomes the batch to run; the queue takes the emptied
        /// array of the last batch, so a steady state allocates nothing.
        mutating func takeBatch() { swap(&runQueue, &running) }
    }
    private let local: UnsafeMutablePointer<LoopLocal> = {
        let p = UnsafeMutablePointer<LoopLocal>.allocate(capacity: 1)
        p.initialize(to: LoopLocal())
        return p
    }()
    private var cache: PollCache {
        _read { yield local.pointee.cache }
        _modify { yield &local.pointee.cache }
    }
    private var runQueue: [Work] {
        _read { yield local.pointee.runQueue }
        _modify { yield &local.pointee.runQueue }
    }
    private var running: [Work] {
        _read { yield local.pointee.running }
        _modify { yield &local.pointee.running }
    }
    private var timerScratch: [TimerHeap.Entry] = []
    private var stopping = false

    // Shared. `remote` is the cross-thread queue; `hasRemote` lets the loop skip its
    // lock when nothing was sent; `sleeping` tells senders a wake() is needed.
    // `sleeping` and `hasRemote` pair as a Dekker handshake (both sequentially
    // consistent): the loop stores sleeping then loads hasRemote, a sender stores
    // hasRemote then loads sleeping, so at least one of them sees the other.
    private let remote = Mutex<(work: [Work], stopped: Bool)>(([], false))
    private let hasRemote = Atomic<Bool>(false)
    private let sleeping = Atomic<Bool>(false)
    private let shutdownRequested = Atomic<Bool>(false)
    private var thread: pthread_t?
    /// Set once on the loop thread before `init` returns; read by waking threads.
    private var pollerWaker: AnyPoller?
    /// The loop thread's start-up report: nil until it has created its poller. A
    /// Mutex (not a DispatchSemaphore) so ThreadSanitizer sees the hand-over.
    private let startup = Mutex<Result<PollerFeatures, NetpollError>?>(nil)
    /// What the poller runs with (fixed once the loop has started).
    public var features: PollerFeatures {
        if case .success(let f) = startup.locked({ $0 }) { return f }
        return PollerFeatures(backend: backend.kind.rawValue, details: [])
    }
    /// The poller reports readiness only after `arm` (one-shot io_uring), as its
    /// poller says. Stored once on the loop thread before `init` returns (the start-up
    /// hand-over orders it before any other thread sees this loop); an atomic rather
    /// than a `var` so the read on every park is a plain load, not a dynamic
    /// exclusivity check.
    var armsOnDemand: Bool { armsOnDemandFlag.load(ordering: .relaxed) }
    private let armsOnDemandFlag = Atomic<Bool>(false)

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
            throw .system("pthread_create", rc)
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
    private var isolationStorage: LoopIsolation?
    /// `isolation`'s executor, as the run loop passes it on every isolated job.
    private var serialExecutor: UnownedSerialExecutor?

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if inEventLoop {
            runQueue.append(.job(unowned))
        } else {
            sendRemote(.job(unowned))
        }
    }

    /// ``LoopIsolation``'s enqueue.
    func enqueueIsolated(_ job: UnownedJob) {
        if inEventLoop {
            runQueue.append(.isolatedJob(job))
        } else {
            sendRemote(.isolatedJob(job))
        }
    }

    /// Runs `body` on the loop thread (inline order with other work).
    public func execute(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop {
            runQueue.append(.closure(body))
        } else {
            sendRemote(.closure(body))
        }
    }

    /// Runs `body` on the loop thread and returns its result.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if inEventLoop { return try body() }
        let result: T = try await withUnsafeThrowingContinuation { c in
            execute {
                let r = Result { try body() }
                c.releaseToTask()
                c.resume(with: r)
            }
        }
        acquireFromResumer()
        return result
    }

    private func sendRemote(_ work: Work) {
        let ranInline: Work? = remote.locked { r in
            if r.stopped { return work }
            r.work.append(work)
            return nil
        }
        if let work = ranInline {
            // The loop has exited: tasks continue on the global executor, loop chores
            // (closing descriptors) run here.
            switch work {
            case .job(let j), .isolatedJob(let j): globalConcurrentExecutor.enqueue(ExecutorJob(j))
            case .closure(let body): body()
            case .recycle: break  // the ring is gone with its buffers
            }
            return
        }
        hasRemote.store(true, ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .sequentiallyConsistent) { wakePoller() }
    }

    /// Wakes the poller unless the loop has finished: `finish` sets `stopped` under
    /// the same lock before it closes the poller, so a wake can never write to a
    /// closed (and possibly reused) eventfd.
    private func wakePoller() {
        remote.locked { r in
            guard !r.stopped, let waker = pollerWaker else { return }
            stats.wakes.wrappingAdd(1, ordering: .relaxed)
            waker.wake()
        }
    }

    /// A timer became the earliest: a sleeping loop must recompute its timeout.
    func timerChanged() {
        if !inEventLoop && sleeping.load(ordering: .sequentiallyConsistent) { wakePoller() }
    }

    // MARK: descriptors (loop thread)

    /// Go: poll_runtime_pollOpen. Allocates a PollDesc and registers `fd`. A
    /// `connection` (a connected or connecting stream socket) is read through the
    /// ring when the poller is in io_uring completion mode.
    func openLocal(fd: Int32, connection: Bool = false) throws(NetpollError) -> PollDesc {
        precondition(inEventLoop, "netpoll: openLocal off the loop thread")
        guard !stopping, let poller else { throw .netClosing }
        let pd = cache.alloc(loop: self)
        pd.reset(fd: fd)
        do {
            let receiving = try poller.register(fd: fd, token: pd.token, connection: connection)
            pd.receivesThroughRing.store(receiving, ordering: .relaxed)
        } catch {
            pd.evict()
            pd.locked.locked { $0.fd = -1 }
            cache.release(pd)
            throw error
        }
        stats.descriptorsOpen.wrappingAdd(1, ordering: .relaxed)
        return pd
    }

    /// Registers `fd` with this loop, hopping to its thread if needed.
    func open(fd: Int32, connection: Bool = false) async throws -> PollDesc {
        if inEventLoop { return try openLocal(fd: fd, connection: connection) }
        return try await submit { [self] () throws(NetpollError) in try openLocal(fd: fd, connection: connection) }
    }

    /// Go: poll_runtime_pollClose, and the close(2) after it. Deregisters and closes
    /// the descriptor, frees the slot, and runs `then` once the descriptor is closed:
    /// at once with epoll, with the close's completion when io_uring closes it
    /// through the ring. Only after `evict`, with no waiter left. Runs on the loop
    /// thread, or anywhere once the loop stopped.
    func closeLocal(_ pd: PollDesc, then: @escaping @Sendable () -> Void) {
        precondition(pd.isClosing, "netpoll: close of a descriptor that was not evicted")
        precondition(pd.rg.load(ordering: .acquiring) <= PollDesc.pdReady, "netpoll: blocked read on closing descriptor")
        precondition(pd.wg.load(ordering: .acquiring) <= PollDesc.pdReady, "netpoll: blocked write on closing descriptor")
        let fd = pd.locked.locked { s in
            let fd = s.fd
            s.fd = -1
            return fd
        }
        guard fd >= 0 else { return then() }
        stats.descriptorsOpen.wrappingSubtract(1, ordering: .relaxed)
        // After the loop finished there is no poller to leave and no cache to return to.
        guard let poller, !stopped else {
            Glibc.close(fd)
            return then()
        }
        if pd.receivesThroughRing.load(ordering: .relaxed) {
            pd.discardReceived()
            pd.receivesThroughRing.store(false, ordering: .relaxed)
        }
        if !poller.contract.closesWithoutSyscall { stats.ioSyscalls.wrappingAdd(1, ordering: .relaxed) }  // its close(2)
        poller.closeDescriptor(fd: fd, token: pd.token, onClosed: then)
        cache.release(pd)
    }

    /// Completion mode: a reader of `pd` found nothing queued, set `ringRequested`
    /// and is about to wait. The loop starts the RECV (or arms a POLLIN poll when no
    /// ring buffer is free) and records which in `pd.ringState`.
    func armReceive(_ pd: PollDesc) {
        if inEventLoop {
            armReceiveLocal(pd.token)
        } else {
            let token = pd.token
            execute { [self] in armReceiveLocal(token) }
        }
    }

    private func armReceiveLocal(_ token: PollToken) {
        guard let poller, let pd = cache.lookup(token) else { return }
        do {
            switch try poller.armReceive(token: token) {  // model: RING_LOOP_ARM
            case .receiving: pd.ringState.store(PollDesc.ringRunning, ordering: .releasing)  // model: RING_STORE_RUNNING
            case .polling, .none: pd.ringState.store(PollDesc.ringOff, ordering: .releasing)  // model: RING_POLLING_OFF
            }
        } catch {
            // Nothing armed: the reader must read the socket itself, now.
            // model: RING_ARM_FAILED
            printToStderr("netpoll: loop \(index): receive arm failed: \(error)")
            pd.ringState.store(PollDesc.ringOff, ordering: .releasing)
            pd.ready(.read)
        }
    }

    /// Gives a ring buffer back (completion mode), from any thread: directly on the
    /// loop thread, otherwise through the loop's queue (the buffer ring has a
    /// single producer).
    func recycleReceiveBuffer(_ bid: UInt16) {
        if inEventLoop {
            poller?.recycle(buffer: bid)
        } else {
            sendRemote(.recycle(bid))
        }
    }

    /// One-shot pollers: watch `mode` of `pd` once more. On the loop thread the SQE
    /// goes out with the next poll; from elsewhere it is sent to the loop.
    func arm(_ pd: PollDesc, _ mode: PollDesc.Mode) {
        // model: LOOP_ARM (asked for by PollDesc.block at BLOCK_ARM)
        let events: PollEvents = mode == .read ? .read : .write
        if inEventLoop {
            armLocal(pd.token, events)
        } else {
            let token = pd.token
            execute { [self] in armLocal(token, events) }
        }
    }

    private func armLocal(_ token: PollToken, _ events: PollEvents) {
        // A token that is no longer current was closed meanwhile: nothing to watch.
        guard let poller, cache.lookup(token) != nil else { return }
        do {
            try poller.arm(token: token, events: events)
        } catch {
            NetpollLog.log(.error, "loop \(index): arm failed: \(error)")
        }
    }

    /// Runs `closeLocal` on the loop thread (inline if already there); `then` runs
    /// once the descriptor is closed.
    func close(_ pd: PollDesc, then: @escaping @Sendable () -> Void) {
        if inEventLoop {
            closeLocal(pd, then: then)
        } else {
            execute { [self] in closeLocal(pd, then: then) }
        }
    }

    private var stopped: Bool { remote.locked { $0.stopped } }

    // MARK: the thread

    private func threadMain() {
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

    private func runLoop() {
        guard let poller else { return }
        // The closures live only inside this call, which runs on self's own thread,
        // so self outlives them: they hold it unretained and use it as a guaranteed
        // reference. (An `unowned(unsafe)` capture is still retained and released
        // around each use, and plain `unowned` costs a strong-retain check as well.)
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
    private func deliver(_ token: PollToken, _ events: PollEvents) {
        guard let ref = cache.lookupUnretained(token) else {
            stats.staleEvents.wrappingAdd(1, ordering: .relaxed)
            return
        }
        stats.events.wrappingAdd(1, ordering: .relaxed)
        ref._withUnsafeGuaranteedRef { pd in
            pd.setEventErr(events.contains(.error), seq: token.seq)
            pd.ready(events)  // model: NETPOLLREADY_RD / NETPOLLREADY_WR; RING_POLLIN_READY
        }
    }

    /// One completion-mode receipt (RingReceiveQueue.swift) for the PollDesc the
    /// token names; a stale one's ring buffer goes straight back to the ring.
    @inline(__always)
    private func deliver(_ token: PollToken, _ receipt: RingReceipt, cap: Int) {
        guard let ref = cache.lookupUnretained(token) else {
            if case .data(let bid, _, _, _) = receipt { recycleReceiveBuffer(bid) }
            stats.staleEvents.wrappingAdd(1, ordering: .relaxed)
            return
        }
        stats.events.wrappingAdd(1, ordering: .relaxed)
        // The reader holds its cap of ring buffers: stop its RECV.
        let stop = ref._withUnsafeGuaranteedRef { $0.ringReceived(receipt, cap: cap) }
        if stop { poller?.contract.stopReceiving(token: token) }
    }

    /// Tests: has this loop's ring deliver a poll completion with `mask` for `pd`,
    /// as the kernel would. False on a backend without a ring. Loop thread only.
    func postRingPollCompletion(for pd: PollDesc, mask: UInt32) throws(NetpollError) -> Bool {
        try poller?.postPollCompletion(token: pd.token, mask: mask) ?? false
    }

    private func publishPollerCounters(_ poller: AnyPoller) {
        let c = poller.contract.counters
        stats.pollSyscalls.store(c.syscalls, ordering: .relaxed)
        stats.rearms.store(c.rearms, ordering: .relaxed)
        stats.ringBuffersHeld.store(c.receiveBuffersHeld, ordering: .relaxed)
        stats.receiveStarved.store(c.receiveStarved, ordering: .relaxed)
        stats.receiveCapped.store(c.receiveCapped, ordering: .relaxed)
        // Stale events dropped inside the poller (uring) add to those dropped here.
        stats.pollerStaleEvents.store(c.staleEvents, ordering: .relaxed)
    }

    private func takeRemote() {
        hasRemote.store(false, ordering: .sequentiallyConsistent)
        remote.locked { r in
            runQueue.append(contentsOf: r.work)
            r.work.removeAll(keepingCapacity: true)
        }
    }

    private func runBatch() {
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

    private func fireTimers() {
        let n = timers.fireExpired(now: cnp_nanotime(), into: &timerScratch)
        if n > 0 { stats.timersFired.wrappingAdd(UInt64(n), ordering: .relaxed) }
    }

    // MARK: idle sweep

    /// Wakes, without I/O, each reader in a retirable wait that has stayed parked
    /// since the previous call (PollDesc+Dormant.swift). Runs on the loop thread
    /// (the cache is the loop's); costs one relaxed load per descriptor slot.
    func retireIdleReaders() {
        if !inEventLoop {
            execute { [self] in retireIdleReaders() }
            return
        }
        for pd in cache.all {
            pd.sweepRetire()?.resume()
        }
    }

    // MARK: shutdown

    /// Asks the loop to stop: every open descriptor is evicted (its waiters get the
    /// closed error), queued work runs, then the thread exits and the poller closes.
    /// Does not wait; see `join()`.
    func requestShutdown() {
        shutdownRequested.store(true, ordering: .sequentiallyConsistent)
        wakePoller()
    }

    private func beginStopping() {
        stopping = true
        for pd in cache.all where pd.locked.locked({ $0.fd >= 0 }) {
            pd.evict()
        }
        timers.removeAll()
    }

    private func finish() {
        // From here on, senders run their work themselves (see sendRemote).
        let leftover = remote.locked { r in
            r.stopped = true
            let w = r.work
            r.work.removeAll()
            return w
        }
        for work in runQueue + leftover {
            switch work {
            case .job(let j), .isolatedJob(let j): globalConcurrentExecutor.enqueue(ExecutorJob(j))
            case .closure(let body): body()
            case .recycle(let bid): poller?.recycle(buffer: bid)
            }
        }
        runQueue.removeAll()
        if let poller { publishPollerCounters(poller) }
        poller?.contract.close()
        // PollDescs still held by open FDs keep this loop alive (PollDesc.loop is a
        // strong reference); dropping the cache breaks the loop → cache → PollDesc
        // cycle so a finished loop is freed with its last descriptor.
        cache = PollCache()
        cnp_set_current_loop(nil)
    }

    deinit {
        local.deinitialize(count: 1)
        local.deallocate()
    }

    /// Waits for the loop thread to exit. Never call it on the loop itself.
    func join() {
        precondition(!inEventLoop, "netpoll: EventLoop.join on its own thread")
        if let t = thread {
            pthread_join(t, nil)
            thread = nil
        }
    }
}
