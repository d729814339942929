import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Reads (Go: FD.Read, FD.Readv): into caller memory, or borrowed from the loop's
// buffer pool; the drained-queue hint that lets a read after a short one wait
// without a read(2) (see FD.receiveQueueDrained). The at-once try is FD+AtOnce,
// completion mode's reads FD+RingReceive.
extension FD {
    /// Reads up to `buffer.count` bytes; 0 means end of stream (or an empty buffer).
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try await readLock()
        defer { readUnlock() }
        guard buffer.count > 0, let base = buffer.baseAddress else { return 0 }
        if ringReceive { return try await readRing(into: base, count: min(buffer.count, FD.maxRW)) }
        try await prepareRead()
        let count = callCount(min(buffer.count, FD.maxRW), .read)
        let n = try await retrying(.read, "read") { cnp_read(sysfd, base, UInt(count)) }
        noteRead(n, of: count)
        return n
    }

    /// The start of every read: Go's prepareRead, or — when the last read drained
    /// the receive queue — straight to the wait (see ``receiveQueueDrained``).
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func prepareRead() async throws {
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

    /// Borrows a buffer of the loop (see `ReadBufferPool`) for one read and runs `body`
    /// on the bytes read, which are valid only during `body`; an empty buffer means
    /// end of stream. Nothing is held while the descriptor waits for data, so an
    /// idle connection costs no buffer. At most `maxCount` bytes (and at most
    /// `ReadBufferPool/bufferSize`) are read. The read lock is released before
    /// `body` runs, so `body` may itself read (or write) this descriptor.
    public func readBorrowed<R>(
        upTo maxCount: Int = .max, _ body: (UnsafeRawBufferPointer) async throws -> R
    ) async throws -> R {
        let borrowed = try await borrow(upTo: maxCount)
        defer { giveBack(borrowed) }
        return try await body(UnsafeRawBufferPointer(start: borrowed.start, count: borrowed.count))
    }

    /// The read of a borrowed read: the read and any waiting on both paths, inlined
    /// (with the loop-buffer read below it) into its non-generic callers (here and
    /// the Net layer's `Conn.borrowRead`), which call it directly rather than
    /// through a closure. A parked reader's task then holds few, small frames: each
    /// frame more on the parked path can cost an idle connection another
    /// task-allocator slab (see docs/performance-log.md), and each async
    /// call costs a frame allocation per read. Hand the result back with
    /// ``giveBack(_:)``.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func borrow(upTo maxCount: Int) async throws -> BorrowedBytes {
        let limit = max(0, min(maxCount, ReadBufferPool.bufferSize))
        return ringReceive ? try await readRingBorrowed(upTo: limit) : try await readLoopBorrowed(upTo: limit)
    }

    /// Bytes a borrowed read hands out: from a buffer of the loop's pool, or (completion
    /// mode) straight from the ring buffer the kernel filled.
    @usableFromInline
    struct BorrowedBytes {
        @usableFromInline let start: UnsafeMutableRawPointer?
        @usableFromInline let count: Int
        /// The ring buffer borrowed, or -1 (then `start`, if any, is a pool buffer).
        let ringBuffer: Int32
    }

    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func readLoopBorrowed(upTo limit: Int) async throws -> BorrowedBytes {
        let (buffer, n) = try await readIntoLoopBuffer(limit)
        return BorrowedBytes(start: buffer, count: n, ringBuffer: -1)
    }

    @usableFromInline
    func giveBack(_ borrowed: BorrowedBytes) {
        if borrowed.ringBuffer >= 0 {
            pd.loop.recycleReceiveBuffer(UInt16(borrowed.ringBuffer))
        } else if let start = borrowed.start {
            let onLoop = onLoopThread
            // The pool with no retain: see docs/runtime-tricks.md#guaranteed-ref.
            poolRef._withUnsafeGuaranteedRef { $0.give(start, onLoopThread: onLoop) }
        }
    }

    /// The read of ``readBorrowed(upTo:_:)``: the buffer is taken for each attempt and
    /// given back before any wait, so a parked reader holds none.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func readIntoLoopBuffer(_ count: Int) async throws -> (UnsafeMutableRawPointer?, Int) {
        try await readLock()
        defer { readUnlock() }
        guard count > 0 else { return (nil, 0) }
        try await prepareRead()
        let count = callCount(count, .read)
        var buffer: UnsafeMutableRawPointer?
        let n = try await retrying(.read, "read") {
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
        // The pool with no retain: see docs/runtime-tricks.md#guaranteed-ref.
        let b = poolRef._withUnsafeGuaranteedRef { $0.take(onLoopThread: onLoop) }
        let r = cnp_read(sysfd, b, UInt(count))
        if r >= 0 { return (b, r) }
        poolRef._withUnsafeGuaranteedRef { $0.give(b, onLoopThread: onLoop) }
        return (nil, r)
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
            NetpollError.minusErrno(iov.withUnsafeBufferPointer { Glibc.readv(sysfd, $0.baseAddress, Int32($0.count)) })
        }
        noteRead(n, of: iov.reduce(0) { $0 + $1.iov_len })
        return n
    }
}
