import CNetpoll
import Synchronization

/// Go's `pollDesc`: the readiness state of one descriptor and the (at most one)
/// task waiting to read and the one waiting to write. Lives in its loop's
/// `PollCache` and is never freed (type-stable), so a late event or timer that
/// still names it is harmless: the token's `fdseq` and the deadline `rseq`/`wseq`
/// tell stale from current.
///
/// ## The wait words `rg` / `wg` (Go: netpoll.go, pdNil/pdReady/pdWait/G pointer)
///
/// | state | meaning | who sets it |
/// |---|---|---|
/// | `nil` | no waiter, no pending notification | the waiter after waking; an unblock without I/O |
/// | `ready` | I/O notification pending: a latch the next wait consumes | `netpollunblock(ioready: true)` |
/// | `wait` | a task is about to park (between the CAS nil→wait and its commit) | the waiter |
/// | `parked` | a task is parked; its continuation is in `rslot`/`wslot` | the waiter's commit CAS wait→parked |
///
/// The waiter commits to park by CAS `wait → parked` *after* storing its
/// continuation; a concurrent notification changes `wait` to `ready`/`nil` first,
/// the commit fails, and the waiter resumes at once (Go's `netpollblockcommit`).
/// The unblocker CASes `parked → ready/nil` and only then reads the slot, so it
/// resumes each continuation exactly once.
///
/// A reader may also park with no task at all: a `DormantWake` in `rdormant`
/// instead of a continuation in `rslot`, committed by the same `wait → parked` CAS
/// and taken by the same unblock (PollDesc+Dormant.swift). Only what "resume"
/// does differs, so the protocol below covers both.
///
/// This protocol is model-checked: `PollDesc.pml` beside this file is a Promela
/// model of it (block, commit, unblock, ready, deadlines, evict, prepare, the
/// one-shot arm), checked with spin by `scripts/check-model`. A `// model: NAME`
/// comment marks the model step a line stands for; the model names the functions.
public final class PollDesc: @unchecked Sendable {
    enum Mode: UInt8 {
        case read = 1
        case write = 2
        case readWrite = 3
        var reads: Bool { rawValue & 1 != 0 }
        var writes: Bool { rawValue & 2 != 0 }
    }

    // Wait word values.
    static let pdNil: UInt8 = 0
    static let pdReady: UInt8 = 1
    static let pdWait: UInt8 = 2
    static let pdParked: UInt8 = 3

    /// Fields protected by `locked` (Go: `lock mutex` and what it guards).
    struct Locked {
        var fd: Int32 = -1
        var closing = false
        /// Deadlines in CLOCK_MONOTONIC ns: 0 none, -1 expired, else absolute.
        var rd: Int64 = 0
        var wd: Int64 = 0
        /// Bumped whenever a deadline changes or the descriptor is reused, so an old
        /// timer that fires finds a different number and does nothing.
        var rseq: UInt32 = 0
        var wseq: UInt32 = 0
        /// A read (write) deadline timer is armed or has fired and not been reset.
        var rrun = false
        var wrun = false
    }

    // Immutable after init. Strong: an FD may outlive its LoopGroup, and closing it
    // must still find the (finished) loop.
    let loop: EventLoop
    let index: UInt32
    // Protected by `locked`.
    let locked = Mutex(Locked())
    // Accessed atomically.
    let rg = Atomic<UInt8>(pdNil)
    let wg = Atomic<UInt8>(pdNil)
    /// Go's `atomicInfo`: see `PollInfo`. Written under `locked` (except the
    /// event-error bit), read lock-free by `checkErr`.
    let info = Atomic<UInt32>(0)
    /// Bumped when the slot is freed: events carrying an older seq are stale.
    let fdseq = Atomic<UInt32>(1)
    /// Sticky: an event reported the peer's hang-up or a pending error. After that a read
    /// can find end of stream or an error pending with no further event to come,
    /// so the FD layer must not skip its EAGAIN read (see `FD.receiveQueueDrained`).
    /// Stored before the unblock's CAS, so a reader whose CAS observes that event
    /// also sees this. Cleared when the slot is reused.
    let peerGone = Atomic<Bool>(false)
    /// io_uring completion mode: this descriptor's reads come from the ring's RECV
    /// (see RingReceiveQueue.swift). Set when it is opened, before its FD exists.
    let receivesThroughRing = Atomic<Bool>(false)
    /// Who reads the socket now: `ringOff`, `ringRequested`, `ringRunning`.
    let ringState = Atomic<UInt8>(0)
    /// Bytes the RECV delivered that the reader has not taken yet.
    let ringQueue = Mutex(RingReceiveQueue())
    // Written by the parking task before its commit CAS (release), read by the
    // unblocker after its CAS from `parked` (acquire). Never touched otherwise.
    var rslot: UnsafeContinuation<Void, Never>?
    var wslot: UnsafeContinuation<Void, Never>?
    /// The waiter in `rslot`/`wslot` runs isolated to `loop`, so it is resumed
    /// straight onto it (LoopResume); written and read with the slot.
    var rslotOnLoop = false
    var wslotOnLoop = false
    /// A reader parked without a task (PollDesc+Dormant.swift): written and read
    /// exactly as `rslot` is, and set only while `rslot` is nil.
    var rdormant: DormantWake?
    /// Whether the reader parked now may be retired by an idle sweep, and how far
    /// the sweep got (PollDesc+Dormant.swift).
    let retireMark = Atomic<UInt8>(0)
    /// The task whose parks here need no cancellation handler: a server that can
    /// cancel it wakes them itself (PollDesc+Cover.swift). 0: none.
    let coveredTask = Atomic<UInt>(0)
    // Owned by the loop's timer heap, under its lock.
    var rtimerPos = -1
    var wtimerPos = -1

    init(loop: EventLoop, index: UInt32) {
        self.loop = loop
        self.index = index
    }

    /// The token this descriptor is registered under now.
    var token: PollToken { PollToken(slot: index, seq: fdseq.load(ordering: .relaxed)) }

    var fd: Int32 { locked.locked { $0.fd } }
}

/// Go's `pollInfo`: what `netpollcheckerr` needs, readable without the lock.
struct PollInfo {
    static let closing: UInt32 = 1 << 0
    static let eventErr: UInt32 = 1 << 1
    static let expiredRead: UInt32 = 1 << 2
    static let expiredWrite: UInt32 = 1 << 3
    static let seqShift: UInt32 = 4
    static let seqMask: UInt32 = (1 << 20) - 1
}

/// Why a wait cannot proceed (Go: pollNoError, pollErrClosing, pollErrTimeout,
/// pollErrNotPollable).
/// What `prepare` and `wait` tell the FD loop (Go: netpollcheckerr's codes, plus
/// cancellation, which Go's goroutines do not have).
enum PollCheck {
    /// Retry the system call.
    case ok
    /// The descriptor is being closed (Go: pollErrClosing).
    case closing
    /// The deadline for this mode has passed (Go: pollErrTimeout).
    case timeout
    /// An event error was reported (Go: pollErrNotPollable).
    case notPollable
    /// The waiting task was cancelled (``wait(_:)`` only).
    case cancelled
    /// An idle sweep retired the reader (``wait(_:)`` in a retirable wait only).
    case retired
}

/// Who an unblock found parked, to be resumed outside any lock: a task, or (reads
/// only) a connection parked without one.
enum Parked {
    /// A task's continuation, and its loop when the task is isolated to it
    /// (unretained: docs/runtime-tricks.md#unmanaged).
    case task(UnsafeContinuation<Void, Never>, Unmanaged<EventLoop>?)
    case dormant(DormantWake, PollDesc)

    @inline(__always)
    func resume() {
        switch self {
        case .task(let c, let loop): LoopResume.resume(c, onto: loop)
        case .dormant(let w, let pd): pd.wakeDormant(w)
        }
    }
}

extension PollDesc {
    // MARK: published info (Go: publishInfo, setEventErr, netpollcheckerr)

    /// Recomputes `info` from the locked fields. Call with the lock held, *before*
    /// any unblock, so a woken waiter that re-checks never parks again by mistake.
    func publishInfo(_ s: borrowing Locked) {
        var i: UInt32 = 0
        if s.closing { i |= PollInfo.closing }
        if s.rd < 0 { i |= PollInfo.expiredRead }
        if s.wd < 0 { i |= PollInfo.expiredWrite }
        i |= (fdseq.load(ordering: .relaxed) & PollInfo.seqMask) << PollInfo.seqShift
        var x = info.load(ordering: .relaxed)
        while true {
            let (done, now) = info.compareExchange(
                expected: x, desired: (x & PollInfo.eventErr) | i, ordering: .acquiringAndReleasing)
            if done { return }
            x = now
        }
    }

    /// Sets or clears the event-error bit, but only while `seq` is still current.
    func setEventErr(_ on: Bool, seq: UInt32) {
        let mseq = seq & PollInfo.seqMask
        var x = info.load(ordering: .relaxed)
        while (x & PollInfo.eventErr != 0) != on && (x >> PollInfo.seqShift) & PollInfo.seqMask == mseq {
            let nx = on ? x | PollInfo.eventErr : x & ~PollInfo.eventErr
            let (done, now) = info.compareExchange(expected: x, desired: nx, ordering: .acquiringAndReleasing)
            if done { return }
            x = now
        }
    }

    /// Go: netpollcheckerr. Order: closing → expired deadline of this mode → event
    /// error (reads only: a write reports its own, more specific error).
    @inline(__always)
    func checkErr(_ mode: Mode) -> PollCheck {
        let i = info.load(ordering: .acquiring)
        if i & PollInfo.closing != 0 { return .closing }
        if (mode == .read && i & PollInfo.expiredRead != 0) || (mode == .write && i & PollInfo.expiredWrite != 0) {
            return .timeout
        }
        if mode == .read && i & PollInfo.eventErr != 0 { return .notPollable }
        return .ok
    }

    // MARK: block / unblock (Go: netpollblock, netpollunblock, netpollready)

    // The wait word of a mode (`Atomic` cannot be copied into a local).
    @inline(__always)
    func cas(_ mode: Mode, _ expected: UInt8, _ desired: UInt8) -> (exchanged: Bool, original: UInt8) {
        mode == .read
            ? rg.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing)
            : wg.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing)
    }

    @inline(__always)
    func load(_ mode: Mode) -> UInt8 {
        mode == .read ? rg.load(ordering: .acquiring) : wg.load(ordering: .acquiring)
    }

    @inline(__always)
    func exchange(_ mode: Mode, _ value: UInt8) -> UInt8 {
        mode == .read
            ? rg.exchange(value, ordering: .acquiringAndReleasing)
            : wg.exchange(value, ordering: .acquiringAndReleasing)
    }

    // Nonsending, with no isolated parameter: the caller's isolation is implicit, and
    // the covered park below needs no executor check at entry or after it.
    /// Go: netpollblock. Returns true if I/O is ready, false if woken for another
    /// reason (deadline, close, cancellation). (Go's `waitio` flag is left out: no
    /// caller here waits for I/O regardless of errors.)
    func block(_ mode: Mode) async -> Bool {
        // Set the word to wait, or consume a pending ready.
        while true {
            if cas(mode, Self.pdReady, Self.pdNil).exchanged { return true }  // model: BLOCK_TAKE_READY
            let (set, v) = cas(mode, Self.pdNil, Self.pdWait)  // model: BLOCK_SET_WAIT
            if set { break }
            if v != Self.pdReady && v != Self.pdNil {
                preconditionFailure("netpoll: double wait (mode \(mode), state \(v))")
            }
        }
        // Re-check errors after publishing `wait`: a close or deadline that happened
        // before would otherwise leave us parked with nobody to wake us. Cancellation
        // gets the same treatment (its handler may have run before we set `wait`).
        // model: BLOCK_RECHECK
        if checkErr(mode) == .ok && !RuntimeHooks.isCurrentTaskCancelled {
            loop.stats.parks.wrappingAdd(1, ordering: .relaxed)
            // One-shot pollers report a direction only after it is armed again. Arming
            // after `wait` is published is safe: readiness that came meanwhile is seen
            // by the arm itself (POLL_ADD checks the current state).
            // A ring-receiving reader asked the loop itself, before waiting (FD+RingReceive).
            if loop.armsOnDemand && !(mode == .read && receivesThroughRing.load(ordering: .relaxed)) {
                loop.arm(self, mode)  // model: BLOCK_ARM
            }
            // model: end_BLOCK_SUSPENDED (the await)
            if coversCurrentTask {
                // Cancellation is delivered by the covering server (PollDesc+Cover;
                // docs/runtime-tricks.md#covered-park).
                let onLoop = LoopResume.runs(#isolation, on: loop)
                await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                    commitPark(mode, c, onLoop: onLoop)
                }
            } else {
                await parkWithHandler(mode)
            }
            acquireFromResumer()
        }
        let old = exchange(mode, Self.pdNil)  // model: BLOCK_WOKEN
        precondition(old <= Self.pdWait, "netpoll: corrupted polldesc (state \(old) after wake)")
        return old == Self.pdReady
    }

    /// A park that hears its task's cancellation itself.
    private func parkWithHandler(_ mode: Mode, isolation: isolated (any Actor)? = #isolation) async {
        let onLoop = LoopResume.runs(isolation, on: loop)
        await withTaskCancellationHandler {
            // The operation is a @concurrent function type in the standard library: a
            // closure that does not capture the isolated parameter would hop to the
            // generic executor, and its continuation would resume there (off the
            // loop). Capturing it keeps the closure on the caller's actor (see
            // LoopIsolation).
            _ = isolation  // see docs/runtime-tricks.md#keep-hop
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                commitPark(mode, c, onLoop: onLoop)
            }
        } onCancel: {
            self.unblock(mode, ioready: false)?.resume()
        }
    }

    /// Stores the continuation and commits the park (inside withUnsafeContinuation).
    @inline(__always)
    private func commitPark(_ mode: Mode, _ c: UnsafeContinuation<Void, Never>, onLoop: Bool) {
        // model: BLOCK_STORE_SLOT
        if mode == .read {
            rslot = c
            rslotOnLoop = onLoop
        } else {
            wslot = c
            wslotOnLoop = onLoop
        }
        // Go: netpollblockcommit.
        // model: BLOCK_COMMIT
        if !cas(mode, Self.pdWait, Self.pdParked).exchanged {
            // Notified between setting `wait` and now: do not park.
            if mode == .read { rslot = nil } else { wslot = nil }
            c.resume()
        }
    }

    /// Go: netpollunblock. Moves the word to `ready` (I/O) or `nil` and returns the
    /// parked continuation, if any, for the caller to resume *outside* any lock.
    func unblock(_ mode: Mode, ioready: Bool) -> Parked? {
        var old = load(mode)  // model: UNBLOCK_LOAD
        while true {
            if old == Self.pdReady { return nil }
            if old == Self.pdNil && !ioready {
                // Only ioready may set ready; nothing to wake.
                return nil
            }
            let new = ioready ? Self.pdReady : Self.pdNil
            let (done, now) = cas(mode, old, new)  // model: UNBLOCK_CAS
            if done {
                guard old == Self.pdParked else { return nil }
                // model: UNBLOCK_TAKE_SLOT
                let c: UnsafeContinuation<Void, Never>?
                let onLoop: Bool
                if mode == .read {
                    (c, onLoop) = (rslot, rslotOnLoop)
                    rslot = nil
                } else {
                    (c, onLoop) = (wslot, wslotOnLoop)
                    wslot = nil
                }
                if let c {
                    c.releaseToTask()
                    return .task(c, onLoop ? Unmanaged.passUnretained(loop) : nil)
                }
                if mode == .read, let w = rdormant {
                    rdormant = nil
                    return .dormant(w, self)
                }
                preconditionFailure("netpoll: parked without continuation")
            }
            old = now
        }
    }

    /// Go: netpollready. Called by the loop for an event on this descriptor.
    @inline(__always)
    func ready(_ events: PollEvents) {
        // model: NETPOLLREADY_RD / NETPOLLREADY_WR (unblock, then RESUME)
        var r: Parked?
        var w: Parked?
        if !events.isDisjoint(with: [.hangup, .errorPending]) { peerGone.store(true, ordering: .relaxed) }
        if events.contains(.read) { r = unblock(.read, ioready: true) }
        if events.contains(.write) { w = unblock(.write, ioready: true) }
        r?.resume()
        w?.resume()
    }

    // MARK: operations for the FD layer (Go: poll_runtime_poll*)

    /// Go: poll_runtime_pollReset. Clears a stale `ready` before an operation, after
    /// checking errors.
    func prepare(_ mode: Mode) -> PollCheck {
        // model: PREPARE
        let e = checkErr(mode)
        if e != .ok { return e }
        _ = cas(mode, Self.pdReady, Self.pdNil)
        return .ok
    }

    /// Go: poll_runtime_pollWait. Returns `.ok` when the caller should retry its
    /// syscall; otherwise why not.
    @inline(__always)  // a frame less per park (docs/runtime-tricks.md#inlined-async)
    func wait(_ mode: Mode) async -> PollCheck {
        var e = checkErr(mode)  // model: WAIT_CHECK
        if e != .ok { return e }
        while !(await block(mode)) {  // model: WAIT_RESULT
            e = checkErr(mode)
            if e != .ok { return e }
            if RuntimeHooks.isCurrentTaskCancelled { return .cancelled }
            if mode == .read && retireMark.load(ordering: .relaxed) == Self.retireRequested { return .retired }
            // Woken with nothing ready and no error (e.g. a deadline set in the past
            // then cleared): park again, as Go does.
        }
        return .ok
    }

    /// Go: poll_runtime_pollSetDeadline. `d` is relative nanoseconds: 0 clears,
    /// negative is already expired, positive is now + d (saturating).
    func setDeadline(_ d: Int64, _ mode: Mode) {
        var rc: Parked?
        var wc: Parked?
        var wakeLoop = false
        locked.locked { s in
            if s.closing { return }
            let rd0 = s.rd, wd0 = s.wd
            let combo0 = rd0 > 0 && rd0 == wd0
            var abs = d
            if abs > 0 {
                let (sum, overflow) = abs.addingReportingOverflow(cnp_nanotime())
                abs = overflow || sum <= 0 ? Int64.max : sum
            }
            if mode.reads { s.rd = abs }
            if mode.writes { s.wd = abs }
            publishInfo(s)
            let combo = s.rd > 0 && s.rd == s.wd
            let rmode: Mode = combo ? .readWrite : .read
            if !s.rrun {
                if s.rd > 0 {
                    wakeLoop = loop.timers.modify(self, .read, when: s.rd, mode: rmode, seq: s.rseq) || wakeLoop
                    s.rrun = true
                }
            } else if s.rd != rd0 || combo != combo0 {
                s.rseq &+= 1
                if s.rd > 0 {
                    wakeLoop = loop.timers.modify(self, .read, when: s.rd, mode: rmode, seq: s.rseq) || wakeLoop
                } else {
                    loop.timers.stop(self, .read)
                    s.rrun = false
                }
            }
            if !s.wrun {
                if s.wd > 0 && !combo {
                    wakeLoop = loop.timers.modify(self, .write, when: s.wd, mode: .write, seq: s.wseq) || wakeLoop
                    s.wrun = true
                }
            } else if s.wd != wd0 || combo != combo0 {
                s.wseq &+= 1
                if s.wd > 0 && !combo {
                    wakeLoop = loop.timers.modify(self, .write, when: s.wd, mode: .write, seq: s.wseq) || wakeLoop
                } else {
                    loop.timers.stop(self, .write)
                    s.wrun = false
                }
            }
            // A deadline in the past fails the pending wait at once.
            // model: DEADLINE_FIRED (d < 0), DEADLINE_CLEAR (d == 0)
            if s.rd < 0 { rc = unblock(.read, ioready: false) }
            if s.wd < 0 { wc = unblock(.write, ioready: false) }
        }
        if wakeLoop { loop.timerChanged() }
        rc?.resume()
        wc?.resume()
    }

    /// Go: netpolldeadlineimpl. Called by the loop when a timer fires.
    func deadlineFired(mode: Mode, seq: UInt32) {
        // model: DEADLINE_FIRED (then RESUME outside the lock)
        var rc: Parked?
        var wc: Parked?
        locked.locked { s in
            // The descriptor was reused or the deadline changed since the timer was set.
            let current = mode.reads ? s.rseq : s.wseq
            if seq != current { return }
            if mode.reads {
                precondition(s.rd > 0 && s.rrun, "netpoll: inconsistent read deadline")
                s.rd = -1
                publishInfo(s)
                rc = unblock(.read, ioready: false)
            }
            if mode.writes {
                precondition(s.wd > 0 && (s.wrun || mode.reads), "netpoll: inconsistent write deadline")
                s.wd = -1
                publishInfo(s)
                wc = unblock(.write, ioready: false)
            }
        }
        rc?.resume()
        wc?.resume()
    }

    /// Go: poll_runtime_pollUnblock (the "evict" step of Close): marks the descriptor
    /// closing and wakes both waiters, which then see the closed error.
    func evict() {
        // model: EVICT (then RESUME outside the lock)
        var rc: Parked?
        var wc: Parked?
        locked.locked { s in
            if s.closing { return }
            s.closing = true
            s.rseq &+= 1
            s.wseq &+= 1
            publishInfo(s)
            rc = unblock(.read, ioready: false)
            wc = unblock(.write, ioready: false)
            if s.rrun { loop.timers.stop(self, .read); s.rrun = false }
            if s.wrun { loop.timers.stop(self, .write); s.wrun = false }
        }
        rc?.resume()
        wc?.resume()
    }

    var isClosing: Bool { info.load(ordering: .acquiring) & PollInfo.closing != 0 }

    /// Resets the descriptor for a new fd (Go: poll_runtime_pollOpen's body).
    func reset(fd: Int32) {
        precondition(rg.load(ordering: .acquiring) <= Self.pdReady, "netpoll: blocked read on free polldesc")
        precondition(wg.load(ordering: .acquiring) <= Self.pdReady, "netpoll: blocked write on free polldesc")
        locked.locked { s in
            s.fd = fd
            s.closing = false
            s.rseq &+= 1
            s.wseq &+= 1
            s.rd = 0
            s.wd = 0
            s.rrun = false
            s.wrun = false
            // Unconditionally: the info's seq bits still name the previous use.
            _ = info.bitwiseAnd(~PollInfo.eventErr, ordering: .relaxed)
            rg.store(Self.pdNil, ordering: .releasing)
            wg.store(Self.pdNil, ordering: .releasing)
            // A cover left by the previous descriptor's task must not carry over.
            coveredTask.store(0, ordering: .sequentiallyConsistent)

            publishInfo(s)
        }
    }
}
