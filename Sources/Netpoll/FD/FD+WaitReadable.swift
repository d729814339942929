#if canImport(Glibc)
import Glibc
#endif

// Waiting for input without reading it (Go users' long-standing request,
// golang/go#15735): a connection parked here holds no read buffer and only the
// few frames of this wait. And parking a reader with no task at all
// (PollDesc+Dormant.swift), for Listener.serveOnInput.
extension FD {
    /// Returns once this descriptor has input to read, has reached end of stream,
    /// or has an error pending: then the next read does not wait (apart from the
    /// rare case below). Reads nothing. Throws like a read that waits: the read
    /// deadline, close, cancellation.
    ///
    /// Holds the read lock while it waits, as a read does (one waiter per
    /// direction), so a concurrent read waits for it.
    ///
    /// It may return without input in one case: a readiness event for bytes an
    /// earlier read already took, delivered late. The following read then waits
    /// as usual, so callers lose nothing; they hold a buffer only a little longer.
    public func waitReadable() async throws {
        _ = try await waitReadable(retiring: false)
    }

    /// ``waitReadable()``; with `retiring`, the loop's idle sweep may end the wait
    /// (PollDesc+Dormant.swift): then it returns false and nothing was read.
    @inline(__always)  // into serveTurns: a frame less per turn (docs/runtime-tricks.md#inlined-async)
    func waitReadable(retiring: Bool) async throws -> Bool {
        try await readLock()
        defer { readUnlock() }
        if ringReceive {
            try prepare(.read)
            if ringInputQueuedOrAsked(probing: true) { return true }
        } else if isStream && receiveQueueDrained.exchange(false, ordering: .relaxed) {
            // A short read on a stream socket proved the queue empty (see
            // receiveQueueDrained): the next arrival's event is exactly what to wait
            // for, and no system call is needed to know there is nothing yet.
            // Consuming the hint keeps the read that follows from skipping its try.
        } else {
            try prepare(.read)
            if readableNow() { return true }
            // An event after `prepare` cleared any stale one announces input that
            // only this task, holding the read lock, could have taken since.
        }
        if retiring { pd.retireMark.store(PollDesc.retireParked, ordering: .relaxed) }
        let c = await pd.wait(.read)
        if retiring { pd.retireMark.store(PollDesc.retireNone, ordering: .relaxed) }
        switch c {
        case .ok:
            // Closing can end the wait with an event of its own (io_uring cancels the
            // poll, and its completion can come before the evict): a read would find
            // the descriptor closed, so say so now rather than "readable".
            if pd.isClosing { throw error(for: .closing) }
            return true  // I/O also wins over a retirement that raced with it
        case .retired: return false
        default: throw error(for: c)
        }
    }

    /// Parks this descriptor's reader with no task: `wake` runs once, when input,
    /// a deadline or close comes. Returns false when there is input (or an error)
    /// already, without parking; then `wake` will not run. The caller holds the read
    /// lock, and the parked state keeps it until `wake` runs, so a read from
    /// elsewhere waits instead of racing the wake.
    func parkReaderDormant(_ wake: DormantWake) -> Bool {
        // No system call to look for input first, and no `prepare` (which would drop a
        // latched `ready`): this park follows either the descriptor's registration,
        // which reports input already there as an event (EPOLL_CTL_ADD and POLL_ADD
        // check the current state; a one-shot poll is armed by parkDormant), or a
        // retired wait, which parked with no input and was woken without taking any,
        // so every arrival since has latched `ready`. parkDormant consumes a latched
        // `ready` instead of parking. A stale one (an event for bytes read before)
        // only costs a turn whose read waits in its task.
        _ = receiveQueueDrained.exchange(false, ordering: .relaxed)
        if ringReceive && ringInputQueuedOrAsked(probing: false) { return false }
        return pd.parkDormant(wake)
    }

    /// poll(2) with a zero timeout: input, end of stream or an error is pending.
    /// (MSG_PEEK would do for sockets only; poll answers for pipes as well.)
    private func readableNow() -> Bool {
        var p = pollfd(fd: sysfd, events: Int16(POLLIN), revents: 0)
        while true {
            countSyscall()
            let r = Glibc.poll(&p, 1, 0)
            if r >= 0 { return r > 0 }
            if errno != EINTR { return true }  // let the read report it
        }
    }

    /// Completion mode, before a wait for input: true when bytes (or an end) are
    /// queued, or — with `probing`, while no RECV owns the socket — poll(2) finds
    /// input; otherwise asks the loop for a RECV (``askLoopForReceive()``), whose
    /// delivery wakes the wait, and returns false. Takes no bytes.
    private func ringInputQueuedOrAsked(probing: Bool) -> Bool {
        let state = pd.ringState.load(ordering: .acquiring)  // before the queue, as in tryRing
        if pd.hasReceived() { return true }
        if state == PollDesc.ringOff {
            if probing && readableNow() { return true }
            askLoopForReceive()
        }
        return false
    }
}
