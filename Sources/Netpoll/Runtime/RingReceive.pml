/*
 * RingReceive.pml: a Promela model of io_uring completion mode's receive path
 * (RingReceiveQueue.swift, FD+RingReceive.swift, URingPoller+Receive.swift and
 * EventLoop.armReceive), checked with spin by scripts/check-model.
 *
 * One descriptor read through the ring. Three processes interleave freely:
 *   - Kernel: the peer's bytes 0..NBYTES-1 arrive in the socket one by one, then
 *     its end: FIN, or a reset (whose error the first read after the data reports,
 *     once; later reads find 0). The multishot RECV, while in the kernel, moves the
 *     next byte or all of them from the socket into a CQE, or ends: end of stream
 *     (or the reset's error) after the last byte, -ECANCELED once cancelled,
 *     -ENOBUFS, or a last data CQE without F_MORE. A one-shot POLLIN poll fires
 *     when the socket is readable. CQEs go to the CQ in order.
 *   - Loop: the EventLoop thread: handles the reader's arm request (start the RECV;
 *     with no ring buffer to spare, a POLLIN poll; or a failed arm), dispatches
 *     CQEs in CQ order (receipts: queue push, ringState, ready; POLLIN: ready),
 *     cancels the RECV at the receive cap, fires the reader's deadline, and
 *     delivers a ready with nothing behind it.
 *   - Reader: FD.readRing / readvRing / readRingBorrowed, reading until the end of
 *     the stream: prepare, then the tryRing loop (load ringState, take from the
 *     queue, read(2) only if the loaded state was off; on EAGAIN store requested
 *     and ask the loop to arm), then wait on the PollDesc and try again. A read
 *     that times out ends; its caller sets a new deadline and reads again.
 * Every atomic operation of the Swift code is one step here; what the Swift code
 * does in several steps is several steps. The loop thread's steps are sequential,
 * so among them only their order matters.
 *
 * Steps (labels, or `step NAME` comments) and what they stand for. The Swift side
 * carries `// model: NAME` at the same places.
 *
 *   RING_PREPARE        FD.prepare(.read) (PollDesc.prepare: checkErr, then clear a
 *                       stale ready)
 *   RING_TRY            FD.tryRing: one try of the FD loop
 *   RING_TAKE_WHOLE     readRingBorrowed, before each try: takeReceivedWhole, which
 *                       loads no state (it only ever hands out queued bytes)
 *   RING_LOAD_STATE     tryRing: ringState.load(acquiring), BEFORE the queue
 *   RING_TAKE           tryRing: take() (takeReceived: all or part of the head
 *                       item's bytes; an end only when no bytes were taken)
 *   RING_READ           tryRing: read(2), only if the loaded state was off
 *   RING_REQUEST        tryRing: on EAGAIN, ringState.store(requested)
 *   RING_ASK_ARM        tryRing: loop.armReceive(pd) (inline, or through execute)
 *   RING_WAIT           FD.wait(.read) (PollDesc.wait: checkErr, then block)
 *   RING_LOOP_ARM       EventLoop.armReceiveLocal → URingPoller.armReceive
 *   RING_STILL_RUNNING  URingPoller.armReceive: reg.recv != .off → .receiving
 *                       (never reached: a reader asks only when the state is off,
 *                       which the loop stores only once the RECV is gone)
 *   RING_START_RECV     URingPoller.armReceive: prep the multishot RECV
 *   RING_STORE_RUNNING  armReceiveLocal: .receiving → ringState.store(running)
 *   RING_ARM_POLLIN     URingPoller.armReceive: no buffer to spare → arm(.read)
 *   RING_POLLING_OFF    armReceiveLocal: .polling → ringState.store(off)
 *   RING_ARM_FAILED     armReceiveLocal's catch: store off, then ready(.read)
 *   RING_CAP_CANCEL     URingPoller.receiveCompleted: owned >= cap → recv =
 *                       cancelling, and an async cancel of the RECV
 *   RING_PUSH           PollDesc.ringReceived: ringQueue push (bytes or an end)
 *   RING_STORE_OFF      PollDesc.ringReceived: ringState.store(off, releasing) for a
 *                       receipt that ended the RECV
 *   RING_READY          PollDesc.ringReceived: ready(.read)
 *   RING_POLLIN_READY   EventLoop.runLoop's event body: the POLLIN poll's CQE →
 *                       PollDesc.ready
 *   RING_PD_*           PollDesc's wait word, simplified (see below): RING_PD_PARK
 *                       (block: take a pending ready, or re-check and park),
 *                       RING_PD_WOKEN (block after the await), RING_PD_DEADLINE
 *                       (deadlineFired, on the loop thread)
 *   RING_KERNEL_*       the peer and the kernel; RING_KERNEL_SPURIOUS: an event with
 *                       nothing behind it reaching PollDesc.ready
 *   OP_TIMEOUT, OP_DONE the read returns (timed out, or with a result)
 *
 * Simplified or abstracted away: the PollDesc wait word is one atomic park step
 * (CAS to wait, re-check, commit) and one atomic unblock step — PollDesc.pml
 * checks that protocol's interleavings; memory ordering (spin is sequentially
 * consistent; the Swift code pairs the releasing ringState stores with the
 * acquiring load, and the queue has its lock); buffer accounting: "no buffer to
 * spare" or a failed arm (NPOLLIN in all), the cap's cancel after a data CQE
 * (NCAP) and an early end of the RECV (ENOBUFS or CQ overflow, NSTOPS) are free
 * choices instead of counts, which covers every ring size and cap; a take copies
 * from one queue item (takeReceived's copy across items only appends, in order,
 * what a later take would get); close, task cancellation, EINTR, the write side.
 *
 * Properties:
 *   - exactly once, in order: bytes are numbered; every chunk the reader gets, from
 *     the queue or from read(2), must start at the next byte it expects; its end
 *     (queued or from read(2)) must come after all NBYTES bytes and be the one the
 *     peer sent (a reset's error is reported once by the kernel: it must reach the
 *     reader);
 *   - no read(2) while a RECV is in the kernel (asserted at RING_READ);
 *   - a RECV is started only for a reader's request (ringState == requested at
 *     RING_START_RECV), and the reader requests only from off (RING_REQUEST);
 *   - no lost wakeup: the reader always reaches the end of the stream. When nothing
 *     can move any more (spin's `timeout`), Monitor asserts it has; any other end
 *     state is invalid anyway (the reader has no end label); and the ltl claim
 *     `reader_finishes` (pan -a) says it for every path, which excludes cycles too.
 *
 * Bounds (-D to change): NBYTES bytes sent; NSTOPS early ends of a RECV; NCAP cap
 * cancels; NPOLLIN arms without a RECV; NDL deadlines; NSPUR spurious readies.
 *
 * Mutants (spin -DMUT_x; scripts/check-model expects each to FAIL):
 *   MUT_LOAD_AFTER_TAKE      the reader loads ringState after taking from the queue
 *   MUT_OFF_BEFORE_PUSH      the loop stores off before it queues the RECV's last
 *                            data or its end
 *   MUT_START_UNREQUESTED    the loop restarts an ended RECV by itself (as if when
 *                            buffers come back), without a reader's request
 *   MUT_READ_WHEN_REQUESTED  the reader read(2)s unless the state is running
 *   MUT_ARM_BEFORE_REQUEST   the reader asks the loop to arm before storing requested
 *   MUT_NO_READY_ON_STOP     a receipt without news (ENOBUFS, cap) wakes nobody
 *   MUT_NO_POLLIN            no buffer to spare: the loop stores off, arms nothing
 *   MUT_READV_DROPS_END      a read that took an item whole pops a queued end after
 *                            it and drops it. readvRing did this until the model
 *                            found it: when queued bytes filled an iovec exactly and
 *                            an end was queued next, the next iovec's takeReceived
 *                            popped the end and the read returned the bytes — a
 *                            reset's error was lost (later reads find 0). Every take
 *                            after the first byte now keeps the end (`afterBytes`).
 * -DNO_DIRECT drops the two direct protocol assertions (at RING_START_RECV and
 * RING_REQUEST), to show that the end-to-end properties catch those mutants too;
 * -DNO_MONITOR leaves lost wakeups to the ltl claim alone.
 */

/* PollDesc.ringState */
#define OFF       0
#define REQUESTED 1
#define RUNNING   2

/* URingPoller registration's recv */
#define P_OFF        0
#define P_RUNNING    1
#define P_CANCELLING 2

/* PollDesc rg, simplified: nil, ready, parked (wait folded into the park step) */
#define NIL    0
#define READY  1
#define PARKED 2

/* CQE kinds */
#define CQ_DATA     0   /* res > 0 with a buffer, F_MORE */
#define CQ_DATA_END 1   /* res > 0 with a buffer, no F_MORE */
#define CQ_EOF      2   /* res 0 (end of stream), or -ECONNRESET (hi = 1) */
#define CQ_NOBUFS   3   /* -ENOBUFS */
#define CQ_CANCELED 4   /* -ECANCELED (the cap's cancel) */
#define CQ_POLL     5   /* the one-shot POLLIN poll fired */

/* results of a take or a read(2) */
#define R_NONE  0       /* take: queue empty; read(2): EAGAIN */
#define R_BYTES 1
#define R_EOF   2

#define END 255         /* queue item (END, e): end of stream (e 0) or the reset's
                           error (e 1) */

#ifndef NBYTES
#define NBYTES 3
#endif
#ifndef NSTOPS
#define NSTOPS 1        /* a RECV ending early: -ENOBUFS, or data without F_MORE */
#endif
#ifndef NCAP
#define NCAP 1          /* the receive cap cancelling the RECV */
#endif
#ifndef NPOLLIN
#define NPOLLIN 1       /* arms with no ring buffer to spare (POLLIN instead) */
#endif
#ifndef NDL
#define NDL 1           /* read deadlines expiring */
#endif
#ifndef NSPUR
#define NSPUR 1         /* readies with nothing behind them */
#endif

#define CQN (NBYTES + 4)
#define QN  (NBYTES + 1)

/* the socket and the kernel's requests */
byte sent;              /* bytes 0..sent-1 have arrived */
byte sockpos;           /* bytes sockpos..sent-1 are in the socket */
bool fin;               /* the peer's end arrived (after the last byte) */
bool peer_reset;        /* it was a reset, not a FIN */
bool errpending;        /* the reset's error, for the next read (once; then 0) */
bool recv_in_kernel;    /* the RECV is in the kernel */
bool cancelreq;         /* a cancel of it is on its way */
bool pollarmed;         /* the one-shot POLLIN poll is in the kernel */
chan cq = [CQN] of { byte, byte, byte };   /* kind, first byte, end byte (or error) */

/* URingPoller */
byte precv;             /* the registration's recv: P_OFF / P_RUNNING / P_CANCELLING */
bool pollbit;           /* the registration's armed .read bit (cleared on dispatch) */

/* PollDesc */
byte ringState;
byte rg;
bool expired;           /* the read deadline has expired */
chan rq = [QN] of { byte, byte };          /* ringQueue: bytes lo..hi-1, or (END, e) */
bool hh;                /* the queue's head item is held here (the queue is this */
byte hlo, hhi;          /* item, then rq), possibly part-taken */
byte armreqs;           /* armReceive calls on their way to the loop */

/* the reader */
byte next_byte;         /* how many bytes it has been given: they came in order */
bool end_err;           /* its end was an error (the reset's), not end of stream */
bool reader_done;       /* it has got the end */

/* budgets */
byte nstops, ncap, npollin, ndl, nspur, nrestart;

/* PollDesc.ready(.read): unblock(ioready: true), then resume. A parked reader sees
 * rg leave PARKED. */
inline ready() {
    if
    :: rg != READY -> rg = READY
    :: else
    fi
}

/* Pops the queue's next item into the head, if none is there. */
inline head() {
    if
    :: !hh && len(rq) > 0 -> rq?hlo,hhi; hh = true
    :: else
    fi
}

/* The reader is given bytes lo..hi-1: the next ones it expects, each once. */
inline deliver(lo, hi) {
    assert(lo == next_byte);        /* exactly once, in order */
    next_byte = hi
}

inline end_of_stream(e) {
    assert(next_byte == NBYTES);    /* no end before every byte */
    end_err = e;
    assert(end_err == peer_reset);  /* the end the peer sent: a reset's error is not lost */
    reader_done = true
}

/* step RING_TAKE: PollDesc.takeReceived under the ringQueue lock. All of the head
 * item, or (a short buffer) part of it; the end only when no bytes were taken. */
inline take(res) {
    atomic {
        head();
        if
        :: !hh -> res = R_NONE
        :: hh && hlo == END -> end_of_stream(hhi); hh = false; hlo = 0; hhi = 0; res = R_EOF
        :: hh && hlo != END ->
            if
            :: deliver(hlo, hhi); hh = false; hlo = 0; hhi = 0
#ifdef MUT_READV_DROPS_END
                /* readvRing: the item filled an iovec exactly; the next iovec's
                 * takeReceived pops a queued end, and readv returns the bytes */
                ; if
                :: len(rq) > 0 && rq?[END, 0] -> rq?_,_
                :: len(rq) > 0 && rq?[END, 1] -> rq?_,_
                :: skip
                fi
#endif
            :: hhi - hlo > 1 -> deliver(hlo, hlo + 1); hlo = next_byte
            fi;
            res = R_BYTES
        fi
    }
}

/* The reader: FD.readRing (and readvRing, readRingBorrowed) until end of stream. */
proctype Reader() {
    byte st, res;
    bool io;

    do
    :: reader_done -> break
    :: else ->
RING_PREPARE:
        if
        :: expired -> goto OP_TIMEOUT
        :: else -> atomic { if :: rg == READY -> rg = NIL :: else fi }
        fi;
RING_TRY:
        if
        :: skip
        :: true ->
RING_TAKE_WHOLE:    /* the head chunk whole, if it fits (else as if skipped) */
            atomic {
                head();
                if
                :: hh && hlo != END -> deliver(hlo, hhi); hh = false; hlo = 0; hhi = 0; res = R_BYTES
                :: else
                fi
            };
            if
            :: res == R_BYTES -> res = R_NONE; goto OP_DONE
            :: else
            fi
        fi;
#ifndef MUT_LOAD_AFTER_TAKE
RING_LOAD_STATE:
        st = ringState;
        take(res);
#else
        take(res);
        st = ringState;
#endif
        if
        :: res == R_BYTES -> res = R_NONE; st = OFF; goto OP_DONE
        :: res == R_EOF -> res = R_NONE; st = OFF; goto OP_DONE
        :: else
        fi;
#ifndef MUT_READ_WHEN_REQUESTED
        if
        :: st != OFF -> st = OFF; goto RING_WAIT
        :: else
        fi;
#else
        if
        :: st == RUNNING -> st = OFF; goto RING_WAIT
        :: else -> st = OFF
        fi;
#endif
RING_READ:
        atomic {
            assert(!recv_in_kernel);    /* read(2) never runs beside a RECV */
            if
            :: sockpos < sent ->
                if
                :: deliver(sockpos, sent); sockpos = sent
                :: sent - sockpos > 1 -> deliver(sockpos, sockpos + 1); sockpos++
                fi;
                res = R_BYTES
            :: sockpos == sent && fin -> end_of_stream(errpending); errpending = false; res = R_EOF
            :: else -> res = R_NONE  /* EAGAIN */
            fi
        };
        if
        :: res != R_NONE -> res = R_NONE; goto OP_DONE
        :: else
        fi;
#ifdef MUT_ARM_BEFORE_REQUEST
        armreqs++;
#endif
RING_REQUEST:
        atomic {
#ifndef NO_DIRECT
            assert(ringState == OFF);   /* only the reader leaves off */
#endif
            ringState = REQUESTED
        };
#ifndef MUT_ARM_BEFORE_REQUEST
RING_ASK_ARM:
        armreqs++;
#endif
RING_WAIT:
        if
        :: expired -> goto OP_TIMEOUT
        :: else
        fi;
RING_PD_PARK:
        if
        :: atomic { rg == READY -> rg = NIL }; goto RING_TRY  /* a pending ready: retry */
        :: atomic { rg == NIL && expired -> skip }; goto OP_TIMEOUT
        :: atomic { rg == NIL && !expired -> rg = PARKED }
        fi;
RING_PD_WOKEN:
        atomic { rg != PARKED -> io = (rg == READY); rg = NIL };
        if
        :: io -> io = false; goto RING_TRY
        :: else ->
            if
            :: expired -> goto OP_TIMEOUT
            :: else -> goto RING_PD_PARK
            fi
        fi;
OP_TIMEOUT:
        expired = false;            /* the read timed out; the caller sets a new
                                       deadline and reads again */
OP_DONE:
        skip
    od
}

/* The loop's handling of a receipt that ended the RECV (PollDesc.ringReceived). */
inline stored_off() {
    ringState = OFF     /* step RING_STORE_OFF */
}

/* The EventLoop thread. */
proctype Loop() {
    byte kind, lo, hi;
end_RING_LOOP:
    do
    /* an armReceive reaches the loop */
    :: atomic { armreqs > 0 -> armreqs-- };
RING_LOOP_ARM:
        if
        :: precv != P_OFF ->
RING_STILL_RUNNING:
            ringState = RUNNING
        :: precv == P_OFF && npollin < NPOLLIN -> npollin++;
RING_ARM_POLLIN:
#ifndef MUT_NO_POLLIN
            atomic { if :: !pollbit -> pollbit = true; pollarmed = true :: else fi };
#endif
RING_POLLING_OFF:
            ringState = OFF
        :: precv == P_OFF && npollin < NPOLLIN -> npollin++;
RING_ARM_FAILED:    /* the arm threw: nothing armed, the reader reads the socket */
            ringState = OFF;
            ready()
        :: precv == P_OFF ->
RING_START_RECV:
            atomic {
#ifndef NO_DIRECT
                assert(ringState == REQUESTED);     /* only for a reader's request */
#endif
                precv = P_RUNNING; recv_in_kernel = true
            };
RING_STORE_RUNNING:
            ringState = RUNNING
        fi
#ifdef MUT_START_UNREQUESTED
    :: atomic { precv == P_OFF && nrestart < 1 -> nrestart++;
#ifndef NO_DIRECT
            assert(ringState == REQUESTED);
#endif
            precv = P_RUNNING; recv_in_kernel = true };
        ringState = RUNNING
#endif
    /* a CQE */
    :: cq?kind,lo,hi ->
        if
        :: kind == CQ_POLL ->
            pollbit = false;
RING_POLLIN_READY:
            ready()
        :: kind == CQ_DATA ->
            if
            :: atomic { precv == P_RUNNING && ncap < NCAP -> ncap++;
RING_CAP_CANCEL:
                precv = P_CANCELLING; cancelreq = true }
            :: skip
            fi;
RING_PUSH:
            rq!lo,hi;
RING_READY:
            ready()
        :: kind == CQ_DATA_END ->
            precv = P_OFF;
#ifndef MUT_OFF_BEFORE_PUSH
            rq!lo,hi;           /* step RING_PUSH */
            stored_off();
#else
            stored_off();
            rq!lo,hi;
#endif
            ready()             /* step RING_READY */
        :: kind == CQ_EOF ->
            precv = P_OFF;
#ifndef MUT_OFF_BEFORE_PUSH
            rq!END,hi;          /* step RING_PUSH */
            stored_off();
#else
            stored_off();
            rq!END,hi;
#endif
            ready()             /* step RING_READY */
        :: kind == CQ_NOBUFS || kind == CQ_CANCELED ->
            precv = P_OFF;
            stored_off();
#ifndef MUT_NO_READY_ON_STOP
            ready()             /* step RING_READY */
#else
            skip
#endif
        fi;
        kind = 0; lo = 0; hi = 0
    /* step RING_PD_DEADLINE: the read deadline fires (timers run on the loop thread):
     * expired, then unblock(ioready: false) */
    :: atomic { ndl < NDL && !expired && !reader_done -> ndl++; expired = true;
            if :: rg == PARKED -> rg = NIL :: else fi }
    /* step RING_KERNEL_SPURIOUS */
    :: atomic { nspur < NSPUR && !reader_done -> nspur++; ready() }
    od
}

/* The peer and the kernel. */
proctype Kernel() {
    byte k;
end_RING_KERNEL:
    do
    /* step RING_KERNEL_DATA: a byte arrives; after the last one, FIN or a reset */
    :: atomic { sent < NBYTES -> sent++ }
    :: atomic { sent == NBYTES && !fin -> fin = true; if :: skip :: peer_reset = true; errpending = true fi }
    /* step RING_KERNEL_RECV: the RECV takes the next byte or all of them into a CQE;
     * that CQE may be its last (CQ overflow) */
    :: atomic { recv_in_kernel && sockpos < sent ->
            k = sockpos;
            if
            :: sockpos = sent
            :: sent - sockpos > 1 -> sockpos++
            fi;
            if
            :: cq!CQ_DATA,k,sockpos
            :: nstops < NSTOPS -> nstops++; cq!CQ_DATA_END,k,sockpos; recv_in_kernel = false; cancelreq = false
            fi;
            k = 0 }
    /* step RING_KERNEL_RECV_END: end of stream (the reset's error, once), the cap's
     * cancel, or no buffer */
    :: atomic { recv_in_kernel && sockpos == sent && fin -> cq!CQ_EOF,0,errpending; errpending = false;
            recv_in_kernel = false; cancelreq = false }
    :: atomic { recv_in_kernel && cancelreq -> cq!CQ_CANCELED,0,0; recv_in_kernel = false; cancelreq = false }
    :: atomic { recv_in_kernel && nstops < NSTOPS -> nstops++; cq!CQ_NOBUFS,0,0; recv_in_kernel = false; cancelreq = false }
    /* step RING_KERNEL_POLL: the POLLIN poll sees the socket readable */
    :: atomic { pollarmed && (sockpos < sent || fin) -> pollarmed = false; cq!CQ_POLL,0,0 }
    od
}

/* When nothing can move any more, the reader must have reached end of stream: a
 * reader left waiting is a lost wakeup (it has no valid end state either). */
#ifndef NO_MONITOR
active proctype Monitor() {
    timeout -> assert(reader_done)
}
#endif

init {
    atomic {
        run Reader();
        run Loop();
        run Kernel()
    }
}

/* Liveness (pan -a): on every path the reader gets every byte and the end. */
ltl reader_finishes { <> reader_done }
