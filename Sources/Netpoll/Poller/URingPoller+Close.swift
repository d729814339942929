import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Leaving the ring: a descriptor closed through it (cancels and an IORING_OP_CLOSE,
// no waiting), the synchronous deregister, and the ring's own close.
extension URingPoller {
    /// Stops watching `fd` and closes it through the ring: the cancels of its
    /// requests and an `IORING_OP_CLOSE` are queued and go to the kernel with the
    /// next poll — no syscall and no waiting here. `onClosed` runs on this thread
    /// when the CLOSE completes (the descriptor number is then free).
    public func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void) {
        if let reg = table.remove(token.rawValue) {
            if !rearms.isEmpty { rearms.removeAll { $0 == token.rawValue } }
            do throws(NetpollError) {
                if reg.receiving {
                    // Everything on this descriptor at once (RECV or ACCEPT, one-shot
                    // polls) — unless nothing is in the kernel: a connection whose RECV
                    // ended with the peer's FIN (a short-lived one, typically) needs no cancel.
                    if reg.recv != .off || !reg.armed.isEmpty { try queueCancel(target(reg)) }
                    if reg.accepting && reg.recv != .off { acceptsEnding[token.rawValue | Self.recvBit] = () }
                } else if oneshot {
                    if reg.armed.contains(.read) { try cancel(token.rawValue, tag: Self.cancelAsync) }
                    if reg.armed.contains(.write) { try cancel(token.rawValue | Self.writeBit, tag: Self.cancelAsync) }
                } else {
                    try cancel(token.rawValue, tag: Self.cancelAsync)
                }
                try detachSlot(reg)
            } catch {
                // A broken ring: nothing is in the kernel to wait for any more.
            }
        }
        let ud = token.rawValue | Self.closeBits
        do throws(NetpollError) {
            while !cnp_ring_prep_close(ring, fd, ud) { try submit() }
            closing[ud] = OnClosed(run: onClosed)
        } catch {
            Glibc.close(fd)
            onClosed()
        }
    }

    public func deregister(fd: Int32, token: PollToken) throws(NetpollError) {
        // Unknown token: the poll already ended for good (e.g. -EBADF) and was dropped.
        guard let reg = table.remove(token.rawValue) else { return }
        if !rearms.isEmpty { rearms.removeAll { $0 == token.rawValue } }
        // The polls that may be in the kernel for this descriptor: at most two (one-shot
        // read and write), kept in fixed slots so deregistering allocates nothing. Each
        // cancel carries its slot's tag, so its answer names its target.
        var slots = (CancelSlot(tag: Self.cancelRead), CancelSlot(tag: Self.cancelWrite))
        if oneshot || reg.receiving {
            if reg.armed.contains(.read) { slots.0.target = token.rawValue }
            if reg.armed.contains(.write) { slots.1.target = token.rawValue | Self.writeBit }
        } else {
            slots.0.target = token.rawValue
        }
        if reg.receiving && reg.recv != .off {
            // A synchronous deregistration of a receiving descriptor (a test's): its
            // RECV or ACCEPT goes too, without waiting for its final CQE.
            if reg.accepting { acceptsEnding[token.rawValue | Self.recvBit] = () }
            try cancel(token.rawValue | Self.recvBit, tag: Self.cancelAsync)
        }
        if let t = slots.0.target { try cancel(t, tag: slots.0.tag) }
        if let t = slots.1.target { try cancel(t, tag: slots.1.tag) }
        try detachSlot(reg)
        // Wait until each target is settled: its cancel answered -ENOENT (no such poll:
        // it had already ended) or the poll's final CQE (no F_MORE) was seen.
        var waited = 0
        while slots.0.target != nil || slots.1.target != nil {
            counters.syscalls &+= 1
            let rc = try entered(cnp_ring_submit_and_wait(ring, 100_000_000))
            let n = reapRaw()
            for i in 0..<n {
                let c = cqes[i]
                if !slots.0.settle(by: c) && !slots.1.settle(by: c) {
                    if c.user_data == Self.cancelRead || c.user_data == Self.cancelWrite {
                        // An answer to an earlier, repeated cancel: nothing to do.
                    } else {
                        backlog.append(c)
                    }
                } else if c.user_data & ~Self.opMask == token.rawValue {
                    counters.staleEvents &+= 1
                }
            }
            if n == 0 && rc == -ETIME {
                waited += 1
                // A poll the cancel could not stop right away (-EALREADY) ends soon after;
                // ask again every half second. After ten seconds the kernel is not
                // going to answer.
                if waited % 5 == 0 {
                    if let t = slots.0.target { try cancel(t, tag: slots.0.tag) }
                    if let t = slots.1.target { try cancel(t, tag: slots.1.tag) }
                }
                if waited >= 100 { throw .failed("io_uring ASYNC_CANCEL (no completion)", errno: ETIMEDOUT) }
            }
        }
    }

    /// One poll being cancelled by `deregister`.
    struct CancelSlot {
        let tag: UInt64
        /// The poll's user_data while it may still be in the kernel; nil once settled.
        var target: UInt64?

        init(tag: UInt64) { self.tag = tag }

        /// True if `c` is about this slot (its cancel's answer or its poll's CQE).
        mutating func settle(by c: cnp_cqe) -> Bool {
            guard let t = target else { return false }
            if c.user_data == tag {
                // 0 or -EALREADY: the poll's own final CQE follows. Anything else
                // (-ENOENT, or a kernel that cannot cancel) means nothing is pending.
                if c.res != 0 && c.res != -EALREADY { target = nil }
                return true
            }
            if c.user_data == t {
                if c.flags & CNP_CQE_F_MORE == 0 { target = nil }
                return true
            }
            return false
        }
    }

    /// user_data of the cancels for a descriptor's read (or only) and write poll.
    static let cancelRead = PollToken.reservedRemove

    static let cancelWrite = PollToken.reservedRemove - 1

    /// user_data of cancels nobody waits for (close, a receive cap): answers ignored.
    static let cancelAsync = PollToken.reservedRemove - 2

    func cancel(_ target: UInt64, tag: UInt64) throws(NetpollError) {
        while !cnp_ring_prep_cancel(ring, target, tag) {
            try submit()
        }
    }

    func queueCancel(_ file: (fd: Int32, fixed: Bool)) throws(NetpollError) {
        while !cnp_ring_prep_cancel_fd(ring, file.fd, file.fixed, Self.cancelAsync) {
            try submit()
        }
    }

    /// Closes the ring (and the descriptors it was still closing).
    ///
    /// Kernel behaviour to know when closing on a thread of your own: the ring's
    /// teardown finishes in a kernel worker, which then sends each thread that ever
    /// submitted to the ring task work flagged like a signal. That thread's next
    /// blocking system call can return early as if a signal had arrived: EINTR, or
    /// a short read or write (seen on every io_uring mode, never on epoll: see
    /// docs/performance-log.md). Cancelling and reaping every
    /// request before the teardown does not prevent it. An event loop's thread ends
    /// right after closing its poller; code that goes on after closing a raw poller
    /// must handle EINTR and short transfers, as it must for any signal.
    public func close() {
        guard !closed else { return }
        closed = true
        finishClosing()
        cnp_ring_destroy(ring)
        waker.close()
    }

    /// CLOSEs still queued or in flight when the poller closes: the ring's teardown
    /// would drop them, leaving their descriptors open and their closers waiting.
    /// Submit them and wait (briefly: a CLOSE completes at once) for their answers.
    func finishClosing() {
        var rounds = 0
        while !closing.isEmpty && rounds < 50 {
            rounds += 1
            _ = cnp_ring_submit_and_wait(ring, 20_000_000)
            let n = reapRaw()
            for i in 0..<n where cqes[i].user_data & Self.opMask == Self.closeBits
                && cqes[i].user_data >> 32 != 0xFFFF_FFFF
            {
                closing.removeValue(forKey: cqes[i].user_data)?.run()
            }
        }
        // The kernel never answered: let the closers go on rather than hang.
        for (_, onClosed) in closing { onClosed.run() }
        closing.removeAll()
    }
}
