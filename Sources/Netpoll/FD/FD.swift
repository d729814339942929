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
    private let csema = AsyncSemaphore()
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
    /// PollDesc (FD+RingReceive.swift). Fixed when the descriptor is opened.
    let ringReceive: Bool
    /// The loop's counters and read-buffer pool, and the loop's identity, held
    /// without ownership: `pd` holds the loop, which holds them, for as long as this
    /// FD lives. Used through `_withUnsafeGuaranteedRef`, so the per-message paths
    /// (a syscall counted, a buffer taken and given back) do no retain or release:
    /// walking pd → loop → … or an `unowned(unsafe)` reference costs a pair each
    /// time (see docs/performance-log.md).
    private let statsRef: Unmanaged<LoopStatsStorage>
    // The pool's free list is touched on the loop thread only (ReadBufferPool).
    private nonisolated(unsafe) let poolRef: Unmanaged<ReadBufferPool>
    private nonisolated(unsafe) let loopID: UnsafeMutableRawPointer

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
    /// `connection: false`; a connected (accepted) or connecting (dialled) socket
    /// `true`, which lets io_uring completion mode read it through the ring.
    static func open(streamSocket fd: Int32, loop: EventLoop, connection: Bool) async throws -> FD {
        try await open(fd, loop: loop, isSocket: true, isStream: true, connection: connection)
    }

    private static func open(
        _ fd: Int32, loop: EventLoop, isSocket: Bool, isStream: Bool, connection: Bool = false
    ) async throws -> FD {
        do {
            let pd = try await loop.open(fd: fd, connection: connection)
            return FD(sysfd: fd, pd: pd, isSocket: isSocket, isStream: isStream)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private init(sysfd: Int32, pd: PollDesc, isSocket: Bool, isStream: Bool) {
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
        statsRef._withUnsafeGuaranteedRef(body)
    }

    /// True on this descriptor's loop thread (EventLoop.inEventLoop, with no retain).
    @inline(__always)
    private var onLoopThread: Bool { cnp_current_loop() == loopID }

    private static func isStreamSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }

    // MARK: errors

    private var closingError: NetpollError { isSocket ? .netClosing : .fileClosing }

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

    @inline(__always)
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
    @inline(__always)
    func readLock() async throws {
        if fdmu.tryRWLock(read: true) { return }
        guard try await fdmu.rwlock(read: true) else { throw closingError }
    }

    func readUnlock() {
        if fdmu.rwunlock(read: true) { destroy() }
    }

    @inline(__always)
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
    private func destroy() {
        // The FD stays alive until the close completes: `close()` is waiting on it.
        pd.loop.close(pd) { self.csema.release() }
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

    /// Go's fd_unix.go shape: run `call`; EINTR (or `alsoRetry`) → run it again;
    /// EAGAIN → wait on the PollDesc for `mode`, then run it again. The syscall always
    /// runs before any wait: nothing depends on readiness being reported twice.
    /// A failed `call` returns a negative value and sets errno (libc), or returns
    /// -errno when `negatedErrno` (the `cnp_*` shim's convention).
    @inline(__always)
    func retrying<R: FixedWidthInteger & SignedInteger>(
        _ mode: PollDesc.Mode, _ name: String, alsoRetry: Int32 = EINTR, negatedErrno: Bool = false, _ call: () -> R
    ) async throws -> R {
        while true {
            countSyscall()
            let r = call()
            if r >= 0 { return r }
            let e = negatedErrno ? Int32(truncatingIfNeeded: -r) : errno
            if e == EINTR || e == alsoRetry { continue }
            if e == EAGAIN {
                try await wait(mode)
                continue
            }
            throw NetpollError.system(name, e)
        }
    }

    // MARK: read / write

    /// Reads up to `buffer.count` bytes; 0 means end of stream (or an empty buffer).
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try await readLock()
        defer { readUnlock() }
        guard buffer.count > 0, let base = buffer.baseAddress else { return 0 }
        if ringReceive { return try await readRing(into: base, count: min(buffer.count, FD.maxRW)) }
        try await prepareRead()
        let count = min(buffer.count, FD.maxRW)
        let n = try await retrying(.read, "read", negatedErrno: true) { cnp_read(sysfd, base, UInt(count)) }
        noteRead(n, of: count)
        return n
    }

    /// The start of every read: Go's prepareRead, or — when the last read drained
    /// the receive queue — straight to the wait (see ``receiveQueueDrained``).
    @inline(__always)
    private func prepareRead() async throws {
        if isStream && receiveQueueDrained.exchange(false, ordering: .relaxed) {
            try await wait(.read)
        } else {
            try prepare(.read)
        }
    }

    /// A read of `count` bytes returned `n`: a short one left the queue empty.
    @inline(__always)
    func noteRead(_ n: Int, of count: Int) {
        if n > 0 && n < count { noteReceiveQueueEmpty() }
    }

    /// The receive queue was empty just now (a short read, or EAGAIN): set the
    /// drained hint, on stream sockets, unless the peer is gone, whose end of
    /// stream or error then sends no further event to wait for.
    @inline(__always)
    func noteReceiveQueueEmpty() {
        if isStream && !pd.peerGone.load(ordering: .relaxed) {
            receiveQueueDrained.store(true, ordering: .relaxed)
        }
    }

    /// Reads into a buffer lent by the loop (see ``ReadBufferPool``) and runs `body`
    /// on the bytes read, which are valid only during `body`; an empty buffer means
    /// end of stream. Nothing is held while the descriptor waits for data, so an
    /// idle connection costs no buffer. At most `maxCount` bytes (and at most
    /// ``ReadBufferPool/bufferSize``) are read. The read lock is released before
    /// `body` runs, so `body` may itself read (or write) this descriptor.
    public func readBorrowed<R>(
        upTo maxCount: Int = .max, _ body: (UnsafeRawBufferPointer) async throws -> R
    ) async throws -> R {
        let lent = try await lend(upTo: maxCount)
        defer { giveBack(lent) }
        return try await body(UnsafeRawBufferPointer(start: lent.start, count: lent.count))
    }

    /// The read of a borrowed read: the read and any waiting on both paths, inlined
    /// (with the loop-buffer read below it) into its non-generic callers (here and
    /// the Net layer's `Conn.borrowRead`), which call it directly rather than
    /// through a closure. A parked reader's task then holds few, small frames: each
    /// frame more on the parked path can cost an idle connection another
    /// task-allocator slab (see docs/performance-log.md), and each async
    /// call costs a frame allocation per read. Hand the result back with
    /// ``giveBack(_:)``.
    @inline(__always)
    func lend(upTo maxCount: Int) async throws -> LentBytes {
        let limit = max(0, min(maxCount, ReadBufferPool.bufferSize))
        return ringReceive ? try await readRingLent(upTo: limit) : try await readLoopLent(upTo: limit)
    }

    /// Bytes a borrowed read lends: from a buffer of the loop's pool, or (completion
    /// mode) straight from the ring buffer the kernel filled.
    @usableFromInline
    struct LentBytes {
        @usableFromInline let start: UnsafeMutableRawPointer?
        @usableFromInline let count: Int
        /// The ring buffer lent, or -1 (then `start`, if any, is a pool buffer).
        let ringBuffer: Int32
    }

    @inline(__always)
    private func readLoopLent(upTo limit: Int) async throws -> LentBytes {
        let (buffer, n) = try await readIntoLoopBuffer(limit)
        return LentBytes(start: buffer, count: n, ringBuffer: -1)
    }

    @usableFromInline
    func giveBack(_ lent: LentBytes) {
        if lent.ringBuffer >= 0 {
            pd.loop.recycleReceiveBuffer(UInt16(lent.ringBuffer))
        } else if let start = lent.start {
            let onLoop = onLoopThread
            poolRef._withUnsafeGuaranteedRef { $0.give(start, onLoopThread: onLoop) }
        }
    }

    /// The read of ``readBorrowed(upTo:_:)``: the buffer is taken for each attempt and
    /// given back before any wait, so a parked reader holds none.
    @inline(__always)
    func readIntoLoopBuffer(_ count: Int) async throws -> (UnsafeMutableRawPointer?, Int) {
        try await readLock()
        defer { readUnlock() }
        guard count > 0 else { return (nil, 0) }
        try await prepareRead()
        var buffer: UnsafeMutableRawPointer?
        let n = try await retrying(.read, "read", negatedErrno: true) {
            let (b, r) = readIntoPoolBuffer(count)
            buffer = b
            return r
        }
        noteRead(n, of: count)
        return (buffer, n)
    }

    /// One read(2) into a buffer taken from the loop's pool: the buffer and the
    /// count, or nil and -errno, the buffer then given back (before any wait or
    /// throw, so a waiting reader holds none).
    @inline(__always)
    func readIntoPoolBuffer(_ count: Int) -> (UnsafeMutableRawPointer?, Int) {
        let onLoop = onLoopThread
        let b = poolRef._withUnsafeGuaranteedRef { $0.take(onLoopThread: onLoop) }
        let r = cnp_read(sysfd, b, UInt(count))
        if r >= 0 { return (b, r) }
        poolRef._withUnsafeGuaranteedRef { $0.give(b, onLoopThread: onLoop) }
        return (nil, r)
    }

    /// Writes all of `buffer`, waiting for space as needed (partial writes are
    /// accumulated; chunks of at most 1 GiB). Returns `buffer.count`. When it throws,
    /// some bytes may already have gone out: ``write(_:written:)`` tells how many.
    @discardableResult
    public func write(_ buffer: UnsafeRawBufferPointer) async throws -> Int {
        var written = 0
        try await write(buffer, written: &written)
        return written
    }

    /// Go's `Write` contract (n, err): writes all of `buffer` and keeps `written` equal
    /// to the bytes that went out, also when it throws (a deadline, cancellation, a
    /// reset peer), so a caller can resume a write that timed out from
    /// `buffer[written...]`.
    @inline(__always)  // into Conn.write: one task-allocator frame less per write
    public func write(_ buffer: UnsafeRawBufferPointer, written: inout Int) async throws {
        written = 0
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        try await writeRest(buffer, written: &written)
    }

    /// The write loop, from `written` on, with the write lock held and the
    /// descriptor prepared.
    @inline(__always)
    func writeRest(_ buffer: UnsafeRawBufferPointer, written: inout Int) async throws {
        guard let base = buffer.baseAddress else { return }
        while written < buffer.count {
            let chunk = min(buffer.count - written, FD.maxRW)
            let from = base + written
            let n = try await retrying(.write, writeName, negatedErrno: true) { send(from, chunk) }
            // A zero-length result for a non-empty write: the peer can take no more.
            if n == 0 { throw NetpollError.system(writeName, EPIPE) }
            written += n
        }
    }

    var writeName: String { isSocket ? "send" : "write" }

    /// One send(2) (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE) or write(2);
    /// -errno on failure.
    @inline(__always)
    func send(_ from: UnsafeRawPointer, _ count: Int) -> Int {
        isSocket ? cnp_send(sysfd, from, UInt(count), Int32(MSG_NOSIGNAL)) : cnp_write(sysfd, from, UInt(count))
    }

    /// Scatter read (readv): fills `buffers` in order; returns bytes read, 0 at EOF.
    public func readv(_ buffers: [UnsafeMutableRawBufferPointer]) async throws -> Int {
        try await readLock()
        defer { readUnlock() }
        let iov = buffers.prefix(FD.iovMax).map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        if iov.allSatisfy({ $0.iov_len == 0 }) { return 0 }
        if ringReceive { return try await readvRing(iov) }
        // Every read path shares the drained hint: a readv after a short read must
        // consume it (or a later read would wait for an event already taken).
        try await prepareRead()
        let n = try await retrying(.read, "readv") {
            iov.withUnsafeBufferPointer { Glibc.readv(sysfd, $0.baseAddress, Int32($0.count)) }
        }
        noteRead(n, of: iov.reduce(0) { $0 + $1.iov_len })
        return n
    }

    /// Gather write (writev): writes every byte of `buffers`, in order.
    @discardableResult
    public func writev(_ buffers: [UnsafeRawBufferPointer]) async throws -> Int {
        var written = 0
        try await writev(buffers, written: &written)
        return written
    }

    /// ``writev(_:)`` keeping `written` equal to the bytes that went out, also when it
    /// throws (see ``write(_:written:)``).
    public func writev(_ buffers: [UnsafeRawBufferPointer], written: inout Int) async throws {
        written = 0
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        var iov = buffers.filter { $0.count > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        var first = 0
        while first < iov.count {
            let batch = min(iov.count - first, FD.iovMax)
            let start = first
            let n = try await retrying(.write, "writev") {
                iov.withUnsafeBufferPointer { Glibc.writev(sysfd, $0.baseAddress! + start, Int32(batch)) }
            }
            written += n
            // Consume n bytes from the front of the iovec list.
            var left = n
            while left > 0 && first < iov.count {
                if left >= iov[first].iov_len {
                    left -= iov[first].iov_len
                    first += 1
                } else {
                    iov[first].iov_base = iov[first].iov_base! + left
                    iov[first].iov_len -= left
                    left = 0
                }
            }
        }
    }

    // MARK: accept / connect

    /// Go: FD.Accept. Returns a new non-blocking, close-on-exec descriptor (not yet
    /// registered) and the peer address bytes. ECONNABORTED (a connection reset
    /// while queued) is skipped; EMFILE/ENFILE are returned and the listener keeps
    /// working. A connection that would land in ``DescriptorLimit/reserve`` is
    /// closed at once and reported as EMFILE.
    func accept() async throws -> (Int32, SocketAddressStorage) {
        try await readLock()
        defer { readUnlock() }
        try prepare(.read)
        var addr = SocketAddressStorage()
        let s = try await retrying(.read, "accept4", alsoRetry: ECONNABORTED, negatedErrno: true) {
            addr = SocketAddressStorage()
            return addr.withMutableSockaddr { sa, len in cnp_accept4(sysfd, sa, len) }
        }
        // Never keep a connection in the descriptors reserved for the runtime.
        return (try DescriptorLimit.admit(s, from: "accept4"), addr)
    }

    /// Go: netFD.connect. Starts a non-blocking connect and waits for it: EINPROGRESS
    /// → wait for write → SO_ERROR (a wakeup with SO_ERROR 0 is checked with
    /// getpeername, since pollers may wake spuriously).
    func connect(to address: SocketAddressStorage) async throws {
        try await writeLock()
        defer { writeUnlock() }
        countSyscall()
        let rc = address.withSockaddr { sa, len in Glibc.connect(sysfd, sa, len) }
        var e = rc < 0 ? errno : 0
        // An interrupted connect continues in the background; wait for it below.
        if e == EINTR { e = EINPROGRESS }
        switch e {
        case 0, EISCONN:
            return
        case EINPROGRESS, EALREADY:
            break
        default:
            throw NetpollError.system("connect", e)
        }
        // No prepare (pollReset) here, as in Go's netFD.connect: the completion may
        // already have been reported (merged with the registration's edge) before
        // this line, and clearing that `ready` would park forever. A stale `ready`
        // from registration is harmless: SO_ERROR/getpeername below retry.
        while true {
            try await wait(.write)
            var soerr: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            try NetpollError.check("getsockopt(SO_ERROR)") { getsockopt(sysfd, SOL_SOCKET, SO_ERROR, &soerr, &len) }
            switch soerr {
            case EINPROGRESS, EALREADY, EINTR:
                continue
            case EISCONN:
                return
            case 0:
                var peer = SocketAddressStorage()
                let ok = peer.withMutableSockaddr { sa, l in getpeername(sysfd, sa, l) }
                if ok == 0 { return }
                continue
            default:
                throw NetpollError.system("connect", soerr)
            }
        }
    }
}
