import Synchronization

/// What to run when a reader parked without a task is woken (by input, a
/// deadline or close). A struct around the closure: stored bare in an optional,
/// a closure costs a reabstraction thunk, one more allocation per park.
struct DormantWake: Sendable {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

// Readers that wait with no task (Listener.serveOnInput): an idle connection then
// costs its descriptor and PollDesc, not a task with its frames (the task and its
// task-allocator slabs, which a task keeps for its life; see docs/performance-log.md).
//
// Parking is netpollblock with the continuation replaced by a DormantWake: the
// same `nil → wait` CAS, the same re-check of errors after publishing `wait`, the
// same `wait → parked` commit, the same unblock — so every argument (and the spin
// model) about lost and double wakeups carries over. Only "resume" differs: it runs
// the closure, on whichever thread unblocked (the loop, a deadline, a Close).
//
// Retiring: a task waiting in a *retirable* read wait (FD.waitReadable(retiring:))
// stores `retireMark = parked`. The loop's idle sweep (EventLoop.retireIdleReaders)
// moves it to `seen`, and on the next sweep, if the task is still parked, to
// `requested`, then unblocks it without I/O: the wait returns `.retired` and the
// task parks the connection dormant and ends. A wakeup by I/O always wins: the
// wait returns `.ok` whatever the mark says, and the mark is reset after every wait.
extension PollDesc {
    static let retireNone: UInt8 = 0
    static let retireParked: UInt8 = 1
    static let retireSeen: UInt8 = 2
    static let retireRequested: UInt8 = 3

    /// Parks the reader without a task. Returns false when it cannot park because
    /// input is already signalled or an error is pending (closing, an expired
    /// deadline): the caller then runs what `wake` would have run, itself.
    /// The caller is the descriptor's only reader (it holds the FD's read lock).
    func parkDormant(_ wake: DormantWake) -> Bool {
        // model: as PollDesc.block, with a DormantWake for the continuation.
        while true {
            if cas(.read, Self.pdReady, Self.pdNil).exchanged { return false }
            let (set, v) = cas(.read, Self.pdNil, Self.pdWait)
            if set { break }
            if v != Self.pdReady && v != Self.pdNil {
                preconditionFailure("netpoll: double wait (dormant read, state \(v))")
            }
        }
        guard checkErr(.read) == .ok else {
            _ = exchange(.read, Self.pdNil)
            return false
        }
        if loop.armsOnDemand && !receivesThroughRing.load(ordering: .relaxed) {
            loop.arm(self, .read)
        }
        rdormant = wake
        if !cas(.read, Self.pdWait, Self.pdParked).exchanged {
            rdormant = nil
            _ = exchange(.read, Self.pdNil)
            return false
        }
        loop.stats.dormantParks.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    /// The unblocker's "resume" of a dormant reader: block's after-wake step (the
    /// word back to nil, consuming a `ready`: the woken reader's first read finds
    /// the input itself), then the wake.
    func wakeDormant(_ wake: DormantWake) {
        let old = exchange(.read, Self.pdNil)
        precondition(old <= Self.pdWait, "netpoll: corrupted polldesc (state \(old) after dormant wake)")
        wake.run()
    }

    /// One step of the idle sweep, on the loop thread: a retirable reader parked
    /// since the previous sweep is woken without I/O (its wait returns `.retired`).
    func sweepRetire() -> Parked? {
        switch retireMark.load(ordering: .relaxed) {
        case Self.retireParked:
            _ = retireMark.compareExchange(expected: Self.retireParked, desired: Self.retireSeen, ordering: .relaxed)
            return nil
        case Self.retireSeen:
            guard rg.load(ordering: .acquiring) == Self.pdParked else { return nil }
            // Stored before the unblock's releasing CAS, so the woken waiter (whose
            // after-wake exchange acquires) sees it.
            guard retireMark.compareExchange(expected: Self.retireSeen, desired: Self.retireRequested, ordering: .relaxed).exchanged
            else { return nil }
            loop.stats.readersRetired.wrappingAdd(1, ordering: .relaxed)
            return unblock(.read, ioready: false)
        default:
            return nil
        }
    }
}
