/*
 * PollDesc.pml: a Promela model of the PollDesc wait protocol (PollDesc.swift),
 * checked with spin by scripts/check-model.
 *
 * One PollDesc; one task per mode (read = RD, write = WR) running the FD loop
 * (prepare → syscall → on EAGAIN wait → retry); the peer and the kernel; the
 * EventLoop thread delivering events and arming one-shot polls; a deadline timer;
 * a closer. All interleave freely. Every atomic operation of the Swift code is one
 * atomic step here; what the Swift code does in several steps is several steps.
 * The backend is chosen at the start, both are explored: edge-triggered (epoll;
 * io_uring multishot behaves the same) or io_uring one-shot POLL_ADD, which
 * reports a direction only while armed and is re-armed by a task about to park.
 *
 * Steps (labels, or `step NAME` comments inside inlines) and what they stand for.
 * The Swift side carries `// model: NAME` at the same places.
 *
 *   PREPARE             PollDesc.prepare (Go: poll_runtime_pollReset): checkErr, then
 *                       CAS ready → nil, clearing a stale ready
 *   SYSCALL             FD.retrying's call(): data → done; none → EAGAIN
 *   WAIT_CHECK          PollDesc.wait: checkErr before blocking
 *   BLOCK_TAKE_READY    PollDesc.block: CAS ready → nil (consume the latch)
 *   BLOCK_SET_WAIT      PollDesc.block: CAS nil → wait ("netpoll: double wait" otherwise)
 *   BLOCK_RECHECK       PollDesc.block: checkErr after publishing wait
 *   BLOCK_ARM           PollDesc.block: loop.arm(self, mode) when loop.armsOnDemand
 *   BLOCK_STORE_SLOT    PollDesc.commitPark: rslot/wslot = c (inside block's
 *                       withUnsafeContinuation)
 *   BLOCK_COMMIT        PollDesc.commitPark: CAS wait → parked (Go: netpollblockcommit);
 *                       failed → clear the slot and c.resume() at once
 *   end_BLOCK_SUSPENDED PollDesc.block: the await; a valid end state only if nothing
 *                       should wake it (Monitor and the ltl claim decide)
 *   BLOCK_WOKEN         PollDesc.block: exchange(mode, nil); old == ready → true
 *   WAIT_RESULT         PollDesc.wait: true → retry the syscall; false → checkErr,
 *                       then park again
 *   UNBLOCK_LOAD, UNBLOCK_CAS, UNBLOCK_TAKE_SLOT
 *                       PollDesc.unblock (Go: netpollunblock), ioready true or false
 *   RESUME              continuation.resume(), outside the PollDesc lock
 *   NETPOLLREADY_RD/_WR EventLoop.runLoop's event body → PollDesc.ready (Go: netpollready)
 *   LOOP_ARM            EventLoop.arm → armLocal → URingPoller.arm (one-shot POLL_ADD)
 *   KERNEL_DATA         the peer sends (RD) or drains (WR): data/space available;
 *                       epoll queues an edge for it
 *   KERNEL_POLL_FIRES   one-shot: an armed POLL_ADD sees the fd ready, posts a CQE
 *                       and leaves the kernel until the next arm
 *   KERNEL_SPURIOUS     an event with nothing behind it (epoll), or a one-shot poll
 *                       ending without readiness (-ECANCELED, RDHUP on a write poll)
 *   DEADLINE_FIRED      PollDesc.deadlineFired (Go: netpolldeadlineimpl); also
 *                       PollDesc.setDeadline with a time in the past (same shape)
 *   DEADLINE_CLEAR      PollDesc.setDeadline(0): the deadline is removed again
 *   EVICT               PollDesc.evict (Go: poll_runtime_pollUnblock), from FD.close
 *
 * Abstracted away: memory ordering (spin is sequentially consistent; the Swift code
 * uses acquire/release on the words and releaseToTask/acquireFromResumer on the
 * slots), timer seq numbers (a stale timer is modelled by "evict stops timers"),
 * the event-error bit (notPollable), task cancellation, reset(fd:) and slot reuse
 * (fdseq), FDMutex, and how many bytes move: data is one flag per mode.
 *
 * Properties:
 *   - no double resume: RESUME asserts the continuation is the current one and
 *     still suspended (a second resume, or a stale one, fails);
 *   - no double wait, no corrupted word after a wake, no parked word without a
 *     continuation: the Swift preconditions, as assertions;
 *   - no lost wakeup / no waiter left parked after evict: when nothing can move any
 *     more (spin's `timeout`), Monitor asserts that a suspended task is parked
 *     (word == parked, so an unblock could still find it) with no reason to wake:
 *     not closing, its deadline not expired, no data available. With the ltl
 *     claim `no_lost_wakeup` (run with pan -a) the same as a liveness property.
 *
 * Bounds (-D to change): NOPS operations per task, NSENDS/NSENDS_WR times the
 * peer makes data (room) available, NSPUR spurious events, NMODES 1 (reader only,
 * the default) or 2. Two tasks multiply the state space, so scripts/check-model
 * runs the reader with the larger bounds (safety and liveness) and both modes with
 * smaller ones (safety), once with data for the reader and once for the writer.
 *
 * Mutants (spin -DMUT_x; scripts/check-model expects each to FAIL):
 *   MUT_COMMIT_FAIL_PARKS     a failed commit CAS is ignored: the task suspends
 *   MUT_NO_RECHECK            block does not re-check errors after publishing wait
 *   MUT_EVICT_NO_WAKE         evict sets closing but wakes nobody
 *   MUT_PUBLISH_AFTER_UNBLOCK evict wakes the waiters before publishing closing
 *   MUT_NO_ARM                one-shot: a parking task does not ask for the arm
 *   MUT_RESUME_ON_WAIT        unblock takes the slot also from wait (not only parked)
 */

#define NIL     0   /* PollDesc.pdNil */
#define READY   1   /* PollDesc.pdReady */
#define WAIT    2   /* PollDesc.pdWait */
#define PARKED  3   /* PollDesc.pdParked */

#define RD 0
#define WR 1

/* What became of the continuation of the current park. */
#define C_NONE    0   /* no continuation outstanding */
#define C_SUSP    1   /* created, not resumed: the task is (about to be) suspended */
#define C_RESUMED 2   /* resumed, the task has not run yet */

#ifndef NOPS
#define NOPS 2      /* operations (reads / writes) per task */
#endif
#ifndef NSENDS
#define NSENDS 2    /* times the peer makes data (space) available, per mode */
#endif
#ifndef NSENDS_WR
#define NSENDS_WR NSENDS
#endif
#ifndef NMODES
#define NMODES 1    /* 1: the reader only; 2: a writer too */
#endif
#ifndef NSPUR
#define NSPUR 1     /* spurious events in all */
#endif

bool oneshot;           /* io_uring one-shot POLL_ADD (EventLoop.armsOnDemand) or epoll */

/* PollDesc */
byte word[2];           /* rg, wg: NIL / READY / WAIT / PARKED (atomic) */
byte slot[2];           /* rslot, wslot: id of the stored continuation, 0 = nil */
bool pdlock;            /* PollDesc.locked */
bool closing;           /* info: PollInfo.closing      (written under pdlock) */
bool expired[2];        /* info: expiredRead/Write      (written under pdlock) */

/* the tasks' continuations */
byte cont[2];           /* C_NONE / C_SUSP / C_RESUMED */
byte cid[2];            /* id of the current park: 1 and 2 alternate */

/* kernel and loop */
bool avail[2];          /* RD: bytes to read; WR: room to write */
bool ev[2];             /* an event queued for the loop (epoll edge, or a CQE) */
bool armed[2];          /* one-shot: the direction's POLL_ADD is in the kernel */
bool armbit[2];         /* one-shot: URingPoller.armed's bit for it (cleared when its
                           CQE is dispatched, so it lags `armed`) */
bool armreq[2];         /* one-shot: arm(pd, mode) sent to the loop, not done yet */

#define suspended(m) (cont[m] == C_SUSP)

/* Go: netpollcheckerr (one lock-free load of the info word) */
#define checkerr(m) (closing || expired[m])

/* A compare-and-exchange is an `if` of two atomic options: word == expected →
 * store desired; word != expected → the failure path (which may look at the value
 * seen). Locals are reset as soon as they are dead, to keep the state space small. */

inline lock() { atomic { !pdlock -> pdlock = true } }
inline unlock() { pdlock = false }

/* step RESUME: continuation.resume(). */
inline resume(m, c) {
    if
    :: c != 0 ->
        d_step {
            /* no double resume: exactly the current continuation, exactly once */
            assert(cont[m] == C_SUSP && c == cid[m]);
            cont[m] = C_RESUMED;
            c = 0
        }
    :: else
    fi
}

/* PollDesc.unblock(mode, ioready:) (Go: netpollunblock): returns in c the parked
 * continuation, if any, for the caller to resume outside the lock. */
inline unblock(m, io, c) {
    old = word[m];                                          /* step UNBLOCK_LOAD */
    do
    :: old == READY || (old == NIL && !io) -> old = 0; break /* only ioready sets ready */
    :: else ->
        if
        :: atomic { word[m] == old -> word[m] = (io -> READY : NIL) };  /* step UNBLOCK_CAS */
            if
#ifdef MUT_RESUME_ON_WAIT
            :: old == PARKED || old == WAIT -> d_step { c = slot[m]; slot[m] = 0; old = 0 }
#else
            :: old == PARKED ->                             /* step UNBLOCK_TAKE_SLOT */
                d_step {
                    c = slot[m]; slot[m] = 0; old = 0;
                    assert(c != 0)                          /* "parked without continuation" */
                }
#endif
            :: else -> old = 0
            fi;
            break
        :: atomic { word[m] != old -> old = word[m] }       /* CAS failed: retry with what it saw */
        fi
    od
}

/* PollDesc.ready(events) for one mode: unblock(ioready: true), then resume. */
inline netpollready(m) {
    unblock(m, true, c);
    resume(m, c)
}

/* The FD loop of one mode (FD.read / FD.write through FD.retrying), with
 * PollDesc.prepare, PollDesc.wait and PollDesc.block inlined. */
proctype Task(byte m) {
    byte ops = 0, c;
    bool io;

    do
    :: ops < NOPS ->
        ops++;
PREPARE:
        if
        :: checkerr(m) -> goto OP_DONE
        :: else ->
            if
            :: atomic { word[m] == READY -> word[m] = NIL }  /* clear a stale ready */
            :: atomic { word[m] != READY -> skip }
            fi
        fi;
SYSCALL:
        if
        :: atomic { avail[m] -> if :: avail[m] = false :: skip fi };  /* all of it, or part */
            goto OP_DONE
        :: atomic { !avail[m] -> skip }                               /* EAGAIN */
        fi;
WAIT_CHECK:
        if
        :: checkerr(m) -> goto OP_DONE
        :: else
        fi;
BLOCK_TAKE_READY:
        if
        :: atomic { word[m] == READY -> word[m] = NIL; io = true }; goto WAIT_RESULT
        :: atomic { word[m] != READY -> skip }
        fi;
BLOCK_SET_WAIT:
        if
        :: atomic { word[m] == NIL -> word[m] = WAIT }
        :: atomic { word[m] != NIL -> assert(word[m] == READY) };  /* "netpoll: double wait" */
            goto BLOCK_TAKE_READY
        fi;
BLOCK_RECHECK:
#ifndef MUT_NO_RECHECK
        if
        :: checkerr(m) -> goto BLOCK_WOKEN
        :: else
        fi;
#endif
BLOCK_ARM:
#ifndef MUT_NO_ARM
        if
        :: oneshot -> armreq[m] = true
        :: else
        fi;
#endif
BLOCK_STORE_SLOT:
        d_step { cid[m] = (cid[m] == 1 -> 2 : 1); cont[m] = C_SUSP };
        slot[m] = cid[m];
BLOCK_COMMIT:
        if
        :: atomic { word[m] == WAIT -> word[m] = PARKED }
        :: atomic { word[m] != WAIT -> skip };    /* notified meanwhile: do not park */
#ifndef MUT_COMMIT_FAIL_PARKS
            slot[m] = 0;
            c = cid[m];
            resume(m, c)
#else
            skip
#endif
        fi;
end_BLOCK_SUSPENDED:
        cont[m] == C_RESUMED -> cont[m] = C_NONE;
BLOCK_WOKEN:
        atomic {
            assert(word[m] <= WAIT);              /* "corrupted polldesc" */
            io = (word[m] == READY);
            word[m] = NIL
        };
WAIT_RESULT:
        if
        :: io -> io = false; goto SYSCALL         /* wait returned .ok: retry */
        :: else ->
            if
            :: checkerr(m) -> goto OP_DONE
            :: else -> goto BLOCK_TAKE_READY      /* woken for nothing: park again */
            fi
        fi;
OP_DONE:
        skip
    :: else -> break
    od
}

/* The peer and the kernel's readiness tracking. */
proctype Kernel() {
    byte sends[2], spur = 0;
end_KERNEL:
    do
    /* step KERNEL_DATA */
    :: sends[RD] < NSENDS ->
        d_step { sends[RD]++; avail[RD] = true; if :: !oneshot -> ev[RD] = true :: else fi }
    :: NMODES > 1 && sends[WR] < NSENDS_WR ->
        d_step { sends[WR]++; avail[WR] = true; if :: !oneshot -> ev[WR] = true :: else fi }
    /* step KERNEL_POLL_FIRES */
    :: d_step { oneshot && armed[RD] && avail[RD] -> armed[RD] = false; ev[RD] = true }
    :: d_step { NMODES > 1 && oneshot && armed[WR] && avail[WR] -> armed[WR] = false; ev[WR] = true }
    /* step KERNEL_SPURIOUS */
    :: d_step { spur < NSPUR && (!oneshot || armed[RD]) -> spur++; armed[RD] = false; ev[RD] = true }
    :: d_step { NMODES > 1 && spur < NSPUR && (!oneshot || armed[WR]) -> spur++; armed[WR] = false; ev[WR] = true }
    od
}

/* The EventLoop thread: poll → events → netpollready; arm requests (one-shot). */
proctype Loop() {
    byte old, c;
end_LOOP:
    do
    :: d_step { ev[RD] -> ev[RD] = false; armbit[RD] = false };  /* URingPoller.dispatch */
NETPOLLREADY_RD:
        netpollready(RD)
    :: d_step { ev[WR] -> ev[WR] = false; armbit[WR] = false };
NETPOLLREADY_WR:
        netpollready(WR)
    /* step LOOP_ARM: a no-op while the bit says the poll is in the kernel (a POLL_ADD
     * on a ready fd completes at once: KERNEL_POLL_FIRES) */
    :: d_step { armreq[RD] -> armreq[RD] = false; if :: !armbit[RD] -> armbit[RD] = true; armed[RD] = true :: else fi }
    :: d_step { armreq[WR] -> armreq[WR] = false; if :: !armbit[WR] -> armbit[WR] = true; armed[WR] = true :: else fi }
    od
}

/* A deadline expiring: read, write, or both (rd == wd share one timer), then
 * perhaps removed again. */
proctype Timer() {
    byte old, c, c2;
    bool rd, wr;
    if
    :: rd = true
    :: NMODES > 1 -> wr = true
    :: NMODES > 1 -> rd = true; wr = true
    fi;
DEADLINE_FIRED:
    lock();
    if
    :: closing -> skip          /* evict bumped rseq/wseq: the timer is stale */
    :: else ->
        if
        :: rd -> expired[RD] = true; unblock(RD, false, c)
        :: else
        fi;
        if
        :: wr -> expired[WR] = true; unblock(WR, false, c2)
        :: else
        fi
    fi;
    unlock();
    resume(RD, c);
    resume(WR, c2);
    if
    :: skip
    :: true ->
DEADLINE_CLEAR:
        lock();
        if
        :: closing -> skip      /* setDeadline after close does nothing */
        :: else -> expired[RD] = false; expired[WR] = false
        fi;
        unlock()
    fi
}

/* FD.close → PollDesc.evict, or no close at all. */
proctype Closer() {
    byte old, c, c2;
    if
    :: skip
    :: true ->
EVICT:
        lock();
        if
        :: closing -> skip
        :: else ->
#if defined(MUT_EVICT_NO_WAKE)
            closing = true
#elif defined(MUT_PUBLISH_AFTER_UNBLOCK)
            unblock(RD, false, c);
            unblock(WR, false, c2);
            closing = true
#else
            closing = true;
            unblock(RD, false, c);
            unblock(WR, false, c2)
#endif
        fi;
        unlock();
        resume(RD, c);
        resume(WR, c2)
    fi
}

/* When nothing can move any more (spin's `timeout`), no task may be left waiting
 * for a wakeup that is owed to it. (-DNO_MONITOR leaves only the ltl claim, to show
 * that the claim alone catches a lost wakeup too.) */
#ifndef NO_MONITOR
active proctype Monitor() {
    timeout ->
    /* no waiter left parked after evict */
    assert(!(closing && (suspended(RD) || suspended(WR))));
    /* no lost wakeup: an expired deadline or available data wakes the waiter */
    assert(!(suspended(RD) && (expired[RD] || avail[RD])));
    assert(!(suspended(WR) && (expired[WR] || avail[WR])));
    /* nobody holds a suspended continuation except a parked word */
    assert(!(suspended(RD) && word[RD] != PARKED));
    assert(!(suspended(WR) && word[WR] != PARKED))
}
#endif

init {
    if
    :: oneshot = false
    :: oneshot = true
    fi;
    atomic {
        /* one-shot: both directions are armed at registration (URingPoller.register) */
        armed[RD] = oneshot;
        armed[WR] = oneshot && NMODES > 1;
        armbit[RD] = armed[RD];
        armbit[WR] = armed[WR];
        run Task(RD);
        if
        :: NMODES > 1 -> run Task(WR)
        :: else
        fi;
        run Kernel();
        run Loop();
        run Timer();
        run Closer()
    }
}

/* Liveness (pan -a): a suspended task with a reason to wake is eventually resumed;
 * a suspended task that never gets a reason stays parked legitimately. */
#define owed(m) (suspended(m) && (closing || expired[m] || avail[m]))
ltl no_lost_wakeup {
    [] ((owed(RD) -> <> !suspended(RD)) && (owed(WR) -> <> !suspended(WR)))
}
