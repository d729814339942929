import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Go's `internal/poll.FD`: a non-blocking descriptor, its FDMutex and its PollDesc.
///
/// Every operation has the same shape (Go: fd_unix.go):
///
///     lock → prepare → for { syscall; EINTR → retry; EAGAIN → wait on the PollDesc; retry }
///
/// The syscall always runs before any wait (the poller is edge-triggered: nothing
/// may depend on readiness being reported again), and a woken waiter retries the
/// syscall, so spurious wakeups are harmless.
///
/// Close (Go: FD.Close): `increfAndClose` refuses new operations → `evict` wakes
/// waiters with the closed error → the last reference to go runs `destroy`, which
/// deregisters from the poller *before* close(2) → Close returns once that is done.
public final class FD: Sendable {
    /// The descriptor. Immutable; valid until `destroy` closes it.
    public let sysfd: Int32
    let pd: PollDesc
    let fdmu = FDMutex()
    /// Close waits here for `destroy` (Go: csema).
    let csema = AsyncSemaphore()
    /// A socket, or another pollable file (a pipe, a tty). Sockets write with
    /// send(MSG_NOSIGNAL): a peer that went away must give EPIPE, not kill the
    /// process with SIGPIPE. Closed errors say "use of closed network connection"
    /// for sockets and "use of closed file" otherwise (Go: isFile).
    let isSocket: Bool
    /// A stream socket (TCP, Unix stream): the only kind for which a short read
    /// proves the receive queue was empty (see ``receiveQueueDrained``).
    let isStream: Bool
    /// Set by a read that returned fewer bytes than asked on a stream socket: the
    /// receive queue was empty at that moment, so the next read waits for the
    /// next arrival's event instead of first calling read(2) only to get EAGAIN —
    /// one system call of the three an echoed message costs. Why that loses no
    /// wakeup, on every backend:
    ///
    /// - tcp_recvmsg (and unix_stream_read_generic) stops short of the buffer only
    ///   when the receive queue *and* the socket backlog are empty; every later
    ///   arrival runs `sk_data_ready`, which wakes the socket's wait queue.
    /// - epoll (EPOLLET) puts the descriptor back on its ready list on every such
    ///   wakeup after it was reported; multishot POLL_ADD posts a CQE for it; a
    ///   one-shot POLL_ADD is armed when the reader parks (`PollDesc.block`) and
    ///   checks the current state as it is armed.
    /// - The next read does *not* clear a latched `ready` (no `prepare`/pollReset):
    ///   an event that arrived since the short read is exactly the one to consume.
    ///   A stale `ready` only costs what skipping saved (read, EAGAIN, park).
    /// - Except at the end: a read stops short *before* a queued FIN (or a pending
    ///   error), which then produces no new event. So once the poller has reported
    ///   a hang-up or an error (`PollDesc.peerGone`) it is never set. If that event
    ///   comes after the short read, its `ready` is latched and taken by the wait.
    /// - Datagram sockets, pipes and files never set it: a short datagram says
    ///   nothing about the queue behind it.
    /// Every read path (read, readv, readBorrowed) goes through `prepareRead` and
    /// `noteRead`, so the hint is never left behind by one and trusted by another.
    /// Written and read only by the holder of the read lock; atomic (relaxed) only
    /// because successive readers may run on different threads, ordered by FDMutex.
    let receiveQueueDrained = Atomic<Bool>(false)
    /// io_uring completion mode: reads take what the ring's RECV queued on the
    /// PollDesc (FD+RingReceive.swift); on a listener with the ring's ACCEPT, accepts
    /// take the connections it queued (FD+AcceptConnect.swift). Fixed when the
    /// descriptor is opened.
    let ringReceive: Bool
    /// The loop's counters and read-buffer pool, and the loop's identity, held
    /// without ownership: `pd` holds the loop, which holds them, for as long as this
    /// FD lives. Used through `_withUnsafeGuaranteedRef`, so the per-message paths
    /// (a syscall counted, a buffer taken and given back) do no retain or release:
    /// walking pd → loop → … or an `unowned(unsafe)` reference costs a pair each
    /// time (see docs/performance-log.md, docs/runtime-tricks.md#unmanaged).
    let statsRef: Unmanaged<LoopStatsStorage>
    // The pool's free list is touched on the loop thread only (ReadBufferPool).
    nonisolated(unsafe) let poolRef: Unmanaged<ReadBufferPool>
    nonisolated(unsafe) let loopID: UnsafeMutableRawPointer

    /// Largest single read/write (Go: maxRW, 1 GiB), so huge buffers are cut into
    /// chunks and the kernel never sees a length it would truncate.
    static let maxRW = 1 << 30
    /// Linux's IOV_MAX (not exported to Swift).
    static let iovMax = 1024

    /// Takes ownership of `fd` (which must be non-blocking) and registers it with `loop`.
    /// On failure the descriptor is closed.
    public static func open(_ fd: Int32, loop: EventLoop, isSocket: Bool = true) async throws -> FD {
        try await open(fd, loop: loop, isSocket: isSocket, isStream: isSocket && isStreamSocket(fd))
    }

    /// ``open(_:loop:isSocket:)`` for a SOCK_STREAM socket the Net layer created or
    /// accepted itself: no SO_TYPE query per connection. A listener passes
    /// `.listener` (io_uring may accept on it through the ring); a connected
    /// (accepted) or connecting (dialled) socket `.connection` (io_uring completion
    /// mode may read it through the ring).
    static func open(streamSocket fd: Int32, loop: EventLoop, role: DescriptorRole) async throws -> FD {
        try await open(fd, loop: loop, isSocket: true, isStream: true, role: role)
    }

    static func open(
        _ fd: Int32, loop: EventLoop, isSocket: Bool, isStream: Bool, role: DescriptorRole = .other
    ) async throws -> FD {
        do {
            let pd = try await loop.open(fd: fd, role: role)
            return FD(sysfd: fd, pd: pd, isSocket: isSocket, isStream: isStream)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    init(sysfd: Int32, pd: PollDesc, isSocket: Bool, isStream: Bool) {
        self.sysfd = sysfd
        self.pd = pd
        self.isSocket = isSocket
        self.isStream = isStream
        self.ringReceive = pd.receivesThroughRing.load(ordering: .relaxed)
        self.statsRef = Unmanaged.passUnretained(pd.loop.stats)
        self.poolRef = Unmanaged.passUnretained(pd.loop.readBuffers)
        self.loopID = Unmanaged.passUnretained(pd.loop).toOpaque()
    }

    public var loop: EventLoop { pd.loop }

    /// Runs `body` on the loop's counters with no retain (see `statsRef`).
    @inline(__always) @discardableResult
    func withStats<R>(_ body: (LoopStatsStorage) -> R) -> R {
        statsRef._withUnsafeGuaranteedRef(body)  // see docs/runtime-tricks.md#guaranteed-ref
    }

    /// True on this descriptor's loop thread (EventLoop.inEventLoop, with no retain).
    @inline(__always)
    var onLoopThread: Bool { cnp_current_loop() == loopID }

    static func isStreamSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }

    // MARK: errors

    var closingError: NetpollError { isSocket ? .netClosing : .fileClosing }

    /// Maps a PollDesc check to the error the caller sees.
    func error(for check: PollCheck) -> any Error {
        switch check {
        case .closing: return closingError
        case .timeout: return NetpollError.deadlineExceeded
        case .notPollable: return NetpollError.notPollable
        case .ok: preconditionFailure("netpoll: error(for: .ok)")
        case .cancelled: return CancellationError()
        // Only a retirable wait can be retired, and it handles that itself.
        case .retired: preconditionFailure("netpoll: error(for: .retired)")
        }
    }

    @inline(__always)
    func prepare(_ mode: PollDesc.Mode) throws {
        let c = pd.prepare(mode)
        if c != .ok { throw error(for: c) }
    }

    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func wait(_ mode: PollDesc.Mode) async throws {
        let c = await pd.wait(mode)
        if c != .ok { throw error(for: c) }
    }

    @inline(__always)
    func countSyscall() {
        withStats { $0.ioSyscalls.wrappingAdd(1, ordering: .relaxed) }
    }

    // MARK: locking (Go: readLock/readUnlock/writeLock/writeUnlock/incref/decref)

    // The uncontended lock is taken inline: an async call costs a task-allocator
    // frame (and executor checks) even when it never suspends.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func readLock() async throws {
        if fdmu.tryRWLock(read: true) { return }
        guard try await fdmu.rwlock(read: true) else { throw closingError }
    }

    func readUnlock() {
        if fdmu.rwunlock(read: true) { destroy() }
    }

    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func writeLock() async throws {
        if fdmu.tryRWLock(read: false) { return }
        guard try await fdmu.rwlock(read: false) else { throw closingError }
    }

    func writeUnlock() {
        if fdmu.rwunlock(read: false) { destroy() }
    }

    func incref() throws {
        guard try fdmu.incref() else { throw closingError }
    }

    func decref() {
        if fdmu.decref() { destroy() }
    }

    /// Last reference gone after close: deregister and close on the loop (through
    /// the ring with io_uring); Close returns once the descriptor is closed.
    func destroy() {
        // Unowned: `close()` holds the FD until this callback has run (it waits on
        // csema), and a callback that held the FD (and so its PollDesc) would keep
        // them alive on the loop's thread for a moment after `close()` returned.
        pd.loop.close(pd) { [unowned self] in csema.release() }
    }

    // MARK: close

    /// Closes the descriptor: pending and future operations fail with the closed
    /// error; returns once the descriptor is deregistered and closed. A second close
    /// throws the closed error.
    public func close() async throws {
        guard try fdmu.increfAndClose() else { throw closingError }
        // Unblock waiters before dropping our reference, so their operations return
        // and release theirs (Go: pd.evict()).
        pd.evict()
        decref()
        await csema.acquire()
    }

    /// shutdown(2) one or both directions (Go: netFD.closeRead/closeWrite).
    public func shutdown(_ how: Int32) throws {
        try incref()
        defer { decref() }
        try NetpollError.check("shutdown") { Glibc.shutdown(sysfd, how) }
    }

    // MARK: deadlines

    /// Sets the read, write or both deadlines, as a duration from now: nil clears,
    /// zero or negative is already expired (Go: setDeadlineImpl).
    func setDeadline(_ after: Duration?, _ mode: PollDesc.Mode) throws {
        try incref()
        defer { decref() }
        var d: Int64 = 0
        if let after {
            let (s, atto) = after.components
            if s < 0 || (s == 0 && atto <= 0) {
                d = -1
            } else {
                d = after.saturatingNanoseconds
                if d == 0 { d = -1 }  // "now" must not read as "no deadline"
            }
        }
        pd.setDeadline(d, mode)
    }

    // MARK: the loop every operation shares

    /// One try of an FD loop's system call for `mode`, counted: the result, or nil
    /// for EAGAIN (see ``NetpollError/attempt(_:alsoRetry:_:)``, Go's errno ladder).
    /// Every read, write and accept path of every backend and mode tries through
    /// here — the retry loop below, the at-once tries and completion mode's reads —
    /// so the ladder, and the fault-injection hook that lies to it, are in one place.
    @inline(__always)
    func attempt<R: FixedWidthInteger & SignedInteger>(
        _ mode: PollDesc.Mode, _ name: String, alsoRetry: Int32 = EINTR, _ call: () -> R
    ) throws -> R? {
        try NetpollError.attempt(name, alsoRetry: alsoRetry) {
            #if FaultInjection
            // The errno drawn is answered as the call would: -errno, without running it.
            if let e = injectedErrno(FD.faultSite(mode, name), mode) { return R(-e) }
            #endif
            countSyscall()
            return call()
        }
    }

    /// How many of `count` bytes a read or write for `mode` asks the kernel to move:
    /// `count`, or under fault injection sometimes fewer (FD+FaultInjection.swift).
    /// The drained-queue hint judges a read against this count, not the caller's.
    @inline(__always)
    func callCount(_ count: Int, _ mode: PollDesc.Mode) -> Int {
        #if FaultInjection
        return injectedCount(count, mode == .read ? .read : .write)
        #else
        return count
        #endif
    }

    /// Go's fd_unix.go shape: try `call` (``attempt(_:alsoRetry:_:)``); on EAGAIN wait
    /// on the PollDesc for `mode`, then try again. The system call always runs
    /// before any wait: nothing depends on readiness being reported twice.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func retrying<R: FixedWidthInteger & SignedInteger>(
        _ mode: PollDesc.Mode, _ name: String, alsoRetry: Int32 = EINTR, _ call: () -> R
    ) async throws -> R {
        while true {
            if let r = try attempt(mode, name, alsoRetry: alsoRetry, call) { return r }
            try await wait(mode)
        }
    }
}
