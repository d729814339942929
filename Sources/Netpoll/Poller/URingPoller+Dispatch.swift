import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Polling: submit and wait in one enter, reap the CQ ring, and interpret each CQE
// (the one place that reads user_data, res and flags).
extension URingPoller {
    public func poll(timeout: Duration?, _ body: (PollToken, PollEvents) -> Void) throws(NetpollError) -> Int {
        try poll(timeout: timeout, body) { token, receipt in
            // No one to hand data to: give the buffer straight back.
            if case .data(let bid, _, _, _) = receipt { recycle(buffer: bid) }
        }
    }

    /// ``poll(timeout:_:)`` that also hands completion-mode receipts to `received`
    /// (the EventLoop's). `body` and `received` run on this thread, in CQ order.
    public func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        var delivered = 0
        wokeUp = false
        if !backlog.isEmpty {
            let held = backlog
            backlog.removeAll(keepingCapacity: true)
            for c in held { delivered += try dispatch(c, body, received) }
        }
        delivered += try drainRing(body, received)
        let unqueued = try queueRearms()
        let pending = cnp_ring_sq_pending(ring) > 0
        // Never sleep while a registration's poll is ended and not yet queued again
        // (`rearms` left over: the CQ overflowed, or more ended than one turn's
        // budget): nothing would wake the loop for that descriptor, and a reader
        // parked on it would wait until some other completion came — for ever on a
        // quiet loop. Such a turn only submits, flushes and reaps; the next turn
        // queues the rest. (queueRearms answers this from the one read of `rearms`
        // it makes anyway: a second read here was a dynamic exclusivity check per
        // loop turn, which the census caught.)
        if delivered > 0 || wokeUp || timeout == .zero || unqueued {
            // Non-blocking: enter only to submit queued SQEs or to collect completions
            // the kernel holds back; otherwise this was a pure memory read.
            if pending || cnp_ring_needs_enter(ring) {
                counters.syscalls &+= 1
                try entered(cnp_ring_submit(ring, true))
                delivered += try drainRing(body, received)
                try queueRearms()
            }
            return delivered
        }
        counters.syscalls &+= 1
        let ns: Int64 = timeout.map { $0.saturatingNanoseconds } ?? -1
        if waitsForBatch {
            // The batch's minimum wait never outlasts the caller's timeout (a timer due).
            // Kernel quirk: with no timeout at all, the minimum wait *is* the timeout
            // (io_cqring_min_timer_wakeup ends the wait when no general timeout is
            // set), so an idle loop would wake every minWaitMicros. "Forever" is
            // therefore a minute: past the minimum wait the kernel goes on to sleep
            // for one completion, and an idle loop wakes once a minute (ETIME).
            let wait = ns < 0 ? Self.batchedForever : ns
            let micros = UInt32(min(Int64(options.minWaitMicros), wait / 1000))
            try entered(cnp_ring_submit_and_wait_min(ring, options.minWaitBatch, micros, wait))
        } else {
            try entered(cnp_ring_submit_and_wait(ring, ns))
        }
        delivered += try drainRing(body, received)
        try queueRearms()
        return delivered
    }

    /// The longest wait of a batched (min-wait) enter: see `poll`.
    static let batchedForever: Int64 = 60_000_000_000

    /// Re-arms ended polls, but only while the kernel holds no overflowed CQEs and at
    /// most half a CQ ring at a time. A poll armed on a ready descriptor completes at
    /// once; while the overflow list is non-empty the kernel cannot post that as a
    /// multishot CQE, so the poll ends again. Re-arming immediately would keep the
    /// overflow list at a constant size for ever once more descriptors are ready than
    /// the CQ holds: a livelock inside `drainRing`. The queued SQEs go to the
    /// kernel with the next poll's enter.
    ///
    /// The test is the overflow flag alone. It once was `cnp_ring_needs_enter`, which
    /// is also true whenever DEFER_TASKRUN work is pending — most turns under load —
    /// and `poll` then slept with the re-arm unqueued: if that task work posted no
    /// completion (a poll wakeup whose datagram the loop had already read), the
    /// descriptor was watched by nothing and its parked reader hung (found by
    /// scripts/test-faults, whose injected poll cancels end multishot polls often;
    /// a CQ overflow ends them in production).
    ///
    /// Returns whether re-arms remain unqueued after it: then the caller must not
    /// sleep (see `poll`).
    @discardableResult
    func queueRearms() throws(NetpollError) -> Bool {
        guard !rearms.isEmpty else { return false }
        guard !cnp_ring_cq_overflowed(ring) else { return true }
        let budget = min(rearms.count, max(1, cqeCapacity / 2))
        for ud in rearms[..<budget] {
            guard let reg = table[ud] else { continue }
            counters.rearms &+= 1
            let file = target(reg)
            try queuePoll(fd: file.fd, fixed: file.fixed, userData: ud, mask: Self.pollMask, multishot: true)
        }
        rearms.removeFirst(budget)
        return !rearms.isEmpty
    }

    /// Reaps the CQ ring until it is empty. No syscall unless completions are held back.
    func drainRing(
        _ body: (PollToken, PollEvents) -> Void, _ received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        var delivered = 0
        while true {
            let n = reapRaw()
            if n == 0 { return delivered }
            for i in 0..<n { delivered += try dispatch(cqes[i], body, received) }
            if n < cqeCapacity { return delivered }
        }
    }

    func reapRaw() -> Int {
        Int(cnp_ring_reap(ring, cqes, UInt32(cqeCapacity)))
    }

    /// One CQE: the single place that interprets user_data, res and flags.
    @inline(__always)
    func dispatch(
        _ c: cnp_cqe, _ body: (PollToken, PollEvents) -> Void, _ received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        #if FaultInjection
        let c = injectingFault(c)
        #endif
        let ended = c.flags & CNP_CQE_F_MORE == 0
        switch c.user_data {
        case PollToken.reservedWake:
            if c.res < 0 {
                wakePollError = c.res
                // EINVAL will not heal by re-arming; leave the wake channel to the
                // availability probe, which reports it.
                if c.res == -EINVAL { return 0 }
            }
            if c.res > 0 {
                counters.syscalls &+= 1
                waker.consume()
                wokeUp = true
            }
            if ended && !closed {
                counters.rearms &+= 1
                try queuePoll(fd: waker.fd, userData: PollToken.reservedWake, mask: Self.wakeMask, multishot: !oneshot)
            }
            return 0
        case Self.cancelRead, Self.cancelWrite, Self.cancelAsync:
            // A cancel answered after its deregistration stopped waiting, or one
            // nobody waits for: nothing to do.
            return 0
        default:
            // The rest of the pollers' own range: the file table's answers.
            if c.user_data >= Self.fileSlotBase {
                fileSlotAnswered(c)
                return 0
            }
        }
        let op = c.user_data & Self.opMask
        let token = c.user_data & ~Self.opMask
        if op == Self.closeBits {
            closing.removeValue(forKey: c.user_data)?.run()
            return 0
        }
        if op == Self.recvBit {
            // Without the feature no RECV-tagged CQE is an ACCEPT's: no looks.
            if acceptsThroughRing,
                table[token]?.accepting == true || (!acceptsEnding.isEmpty && acceptsEnding[c.user_data] != nil)
            {
                return acceptCompleted(c, token: token, ended: ended, received)
            }
            return receiveCompleted(c, token: token, ended: ended, received)
        }
        guard let reg = table[token] else {
            counters.staleEvents &+= 1
            return 0
        }
        // One-shot polls: the direction whose poll this was. Its waiter must be woken
        // whatever the mask says (the kernel may answer a POLLOUT poll with only
        // POLLRDHUP), because that poll is now out of the kernel until the next
        // arm(): a waiter left parked would wait for ever.
        let oneshotPolls = oneshot || reg.receiving
        var direction = PollEvents()
        if oneshotPolls, ended {
            let isWrite = op == Self.writeBit
            direction = isWrite ? .write : .read
            table.update(token) { $0.armed.remove(isWrite ? .write : .read) }
        }
        var delivered = 0
        if c.res >= 0 {
            body(PollToken(token), PollEvents(ringPollMask: UInt32(bitPattern: c.res)).union(direction))
            delivered = 1
        } else if c.res == -EBADF {
            // The descriptor was closed without deregistering: wake both waiters so
            // their syscalls report EBADF, and stop watching.
            _ = table.remove(token)
            body(PollToken(token), [.read, .write, .error, .errorPending])
            return 1
        } else if c.res != -ECANCELED {
            // Any other poll failure: let the waiters retry their syscall, which
            // reports the real condition.
            body(PollToken(token), [.read, .write])
            delivered = 1
        } else if !direction.isEmpty {
            // A one-shot poll cancelled by the kernel (not by deregister, which has
            // already dropped the token): its waiter retries and arms again.
            body(PollToken(token), direction)
            delivered = 1
        }
        if ended && !oneshotPolls { rearms.append(token) }
        return delivered
    }

    /// Proves the kernel accepts this poller's poll mode: wake, poll, and look at the
    /// wake poll's answer. Used by backend selection, on a throwaway poller.
    func selfTest() throws(NetpollError) {
        wake()
        _ = try poll(timeout: .seconds(1)) { _, _ in }
        if wakePollError == -EINVAL {
            throw .backendUnavailable(
                backend: "uring",
                reason: options.mode == .multishot
                    ? "kernel lacks multishot poll (IORING_POLL_ADD_MULTI, Linux 5.13+): POLL_ADD returned EINVAL"
                    : "POLL_ADD returned EINVAL")
        }
        try NetpollError.checkNegated("io_uring POLL_ADD", wakePollError)
        if waker.isPending {
            throw .backendUnavailable(backend: "uring", reason: "POLL_ADD on an eventfd produced no completion within 1 s")
        }
        if completion { try selfTestReceive() }
    }
}
