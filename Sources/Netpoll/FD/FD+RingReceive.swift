import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

// Reads of a descriptor that io_uring completion mode reads through the ring
// (`FD.ringReceive`). The FD loop keeps Go's shape — lock → prepare → try → wait →
// retry — but "try" is first a dequeue of what the RECV delivered, and read(2) only
// while no RECV owns the socket (`PollDesc.ringState`; the argument for why bytes
// stay in order is in RingReceiveQueue.swift):
//
//     prepare
//     loop {
//         state = ringState (acquire)          // before the queue: see RingReceiveQueue
//         queued bytes or end  → return them
//         state == off         → read(2); data, EOF or error → return; EAGAIN → ask the
//                                loop to arm (state requested) and fall through
//         wait on the PollDesc → retry
//     }
//
// A deadline or a cancellation ends the wait as on any descriptor; the RECV stays
// in the kernel and what it delivers meanwhile waits in the queue for the next read
// (bounded by the receive cap), so a read that timed out loses nothing.
extension FD {
    /// One "try" of the loop: queued bytes, the queued end, or — only while the
    /// socket is the reader's — read(2) through `syscall` (-errno on failure, tried
    /// through ``attempt(_:alsoRetry:_:)`` like every other read). nil: nothing yet,
    /// the caller waits (the loop has been asked to arm).
    // model: RING_TRY
    @inline(__always)
    private func tryRing(
        _ take: () -> PollDesc.RingTake, _ name: String, _ syscall: () -> Int
    ) throws -> Int? {
        let state = pd.ringState.load(ordering: .acquiring)  // model: RING_LOAD_STATE
        switch take() {  // model: RING_TAKE
        case .bytes(let n): return n
        case .end(let e):
            if e == 0 { return 0 }
            throw NetpollError.failed(name, errno: e)
        case .empty: break
        }
        guard state == PollDesc.ringOff else { return nil }
        // EINTR retries the read alone: with the state off no RECV is armed, so
        // nothing can have joined the queue meanwhile.
        if let r = try attempt(.read, name, syscall) { return r }  // model: RING_READ
        askLoopForReceive()
        return nil
    }

    /// Hands the socket to a RECV: only the reader (holding the read lock) moves
    /// the state away from off, and it does not read(2) again until the loop has
    /// moved it back. What the RECV delivers wakes the reader's wait.
    func askLoopForReceive() {
        pd.ringState.store(PollDesc.ringRequested, ordering: .releasing)  // model: RING_REQUEST
        pd.loop.armReceive(pd)  // model: RING_ASK_ARM
    }

    /// ``read(into:)`` on a ring descriptor; the caller holds the read lock.
    ///
    /// The async functions here are only the loop around the wait; each try is a
    /// plain function. That keeps the frame a parked reader's task holds small: a
    /// larger one (the tries' closures live in it) cost every idle connection a
    /// second task-allocator slab (see docs/performance-log.md).
    func readRing(into base: UnsafeMutableRawPointer, count: Int) async throws -> Int {
        try prepare(.read)  // model: RING_PREPARE
        while true {
            if let n = try attemptRingRead(into: base, count: count) { return n }
            try await wait(.read)  // model: RING_WAIT
        }
    }

    private func attemptRingRead(into base: UnsafeMutableRawPointer, count: Int) throws -> Int? {
        try tryRing({ pd.takeReceived(into: base, count: count) }, "read") { cnp_read(sysfd, base, UInt(count)) }
    }

    /// ``readv(_:)`` on a ring descriptor: queued bytes fill the buffers in order.
    func readvRing(_ iov: [iovec]) async throws -> Int {
        try prepare(.read)  // model: RING_PREPARE
        while true {
            if let n = try attemptRingReadv(iov) { return n }
            try await wait(.read)  // model: RING_WAIT
        }
    }

    private func attemptRingReadv(_ iov: [iovec]) throws -> Int? {
        let take = { () -> PollDesc.RingTake in
            var total = 0
            for v in iov where v.iov_len > 0 {
                switch self.pd.takeReceived(into: v.iov_base!, count: v.iov_len, afterBytes: total > 0) {
                case .bytes(let n):
                    total += n
                    if n < v.iov_len { return .bytes(total) }
                case .end(let e):
                    return total > 0 ? .bytes(total) : .end(e)
                case .empty:
                    return total > 0 ? .bytes(total) : .empty
                }
            }
            return .bytes(total)
        }
        return try tryRing(take, "readv") {
            NetpollError.minusErrno(iov.withUnsafeBufferPointer { Glibc.readv(sysfd, $0.baseAddress, Int32($0.count)) })
        }
    }

    /// The read of ``readBorrowed(upTo:_:)`` on a ring descriptor. A queued chunk that
    /// fits is borrowed as it lies in the ring buffer — no copy — and goes back to the
    /// kernel when the borrower is done (``giveBack(_:)``); otherwise the bytes are
    /// copied into a buffer of the loop's pool, as on other descriptors. Nothing is
    /// held while waiting.
    func readRingBorrowed(upTo limit: Int) async throws -> BorrowedBytes {
        guard limit > 0 else { return BorrowedBytes(start: nil, count: 0, ringBuffer: -1) }
        try await readLock()
        defer { readUnlock() }
        try prepare(.read)  // model: RING_PREPARE
        while true {
            if let borrowed = try attemptRingBorrow(upTo: limit) { return borrowed }
            try await wait(.read)  // model: RING_WAIT
        }
    }

    /// One try of ``readRingBorrowed(upTo:)``; nil: wait (nothing is held then).
    private func attemptRingBorrow(upTo limit: Int) throws -> BorrowedBytes? {
        let state = pd.ringState.load(ordering: .acquiring)
        switch pd.takeReceivedWhole(max: limit) {  // model: RING_TAKE_WHOLE
        case .chunk(let bid, let bytes):
            return BorrowedBytes(start: UnsafeMutableRawPointer(mutating: bytes.baseAddress), count: bytes.count, ringBuffer: Int32(bid))
        case .empty where state != PollDesc.ringOff:
            // The steady state of a parked reader: a RECV owns the socket (or one was
            // asked for) and nothing is queued — wait, without taking a pool buffer
            // or the queue's lock again. (State loaded before the queue, as in
            // tryRing; if it turns off meanwhile, the ready that follows ends the wait.)
            return nil
        case .empty, .notWhole:
            break
        }
        let pool = pd.loop.readBuffers
        let onLoop = pd.loop.inEventLoop
        let b = pool.take(onLoopThread: onLoop)
        let r: Int?
        do {
            r = try tryRing({ pd.takeReceived(into: b, count: limit) }, "read") { cnp_read(sysfd, b, UInt(limit)) }
        } catch {
            pool.give(b, onLoopThread: onLoop)
            throw error
        }
        if let r { return BorrowedBytes(start: b, count: r, ringBuffer: -1) }
        // Nothing held while waiting: an idle connection pins no buffer.
        pool.give(b, onLoopThread: onLoop)
        return nil
    }
}
