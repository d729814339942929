/*
 * BufferLedger.pml: a Promela model of io_uring completion mode's ring-buffer
 * ledger with incrementally consumed buffers (URingPoller+Receive.swift:
 * receiveCompleted, recycle, release), checked with spin by scripts/check-model.
 *
 * RingReceive.pml checks one descriptor's bytes and leaves buffer accounting out;
 * this model checks the other half: that a ring buffer whose chunks several
 * connections hold is never refilled while one of them may still be read, and
 * that every buffer comes back. Processes:
 *   - Kernel: takes the buffer at the head of the buffer ring and fills its next
 *     1..CAP units for one of two connections, one completion at a time
 *     (IOU_PBUF_RING_INC); the completion carries IORING_CQE_F_BUF_MORE until the
 *     buffer is full, then the kernel moves on to the next buffer in the ring. It
 *     writes a fresh stamp into each unit it fills. No buffer in the ring: it
 *     waits (the RECV's -ENOBUFS, restarted once buffers are back).
 *   - Loop: the EventLoop thread: each completion (in CQ order) becomes a chunk at
 *     the ledger's fill offset, handed to its connection's reader; a completion
 *     without BUF_MORE releases the kernel's hold. Recycles come back to it (the
 *     buffer ring has a single producer) and release the chunk's hold; the last
 *     hold puts the buffer back at the ring's tail, whole.
 *   - Reader 0 and 1: take their chunks in order, read them (every unit must still
 *     hold the stamp the kernel wrote for this chunk), and recycle each — at once
 *     or after holding it while they take the next (a borrowed read, a queue).
 *
 * Steps (`step NAME` comments; the Swift side carries `// model: NAME`):
 *   LEDGER_CHUNK        receiveCompleted: the chunk at base + bufferFill[bid], one
 *                       hold for it
 *   LEDGER_FILL_MORE    receiveCompleted: BUF_MORE → bufferFill += res
 *   LEDGER_FINISHED  receiveCompleted: no BUF_MORE → bufferFill = 0, buffersOut
 *                       += 1, release the kernel's hold
 *   LEDGER_RELEASE      release: one hold fewer
 *   LEDGER_READD        release: the last hold → the kernel's hold again, the
 *                       buffer back in the ring (cnp_ring_recycle_buffer)
 *   LEDGER_KERNEL_FILL  the kernel (not Swift)
 *
 * Properties:
 *   - no chunk is overwritten while held: the kernel asserts, for every unit it
 *     fills, that no held chunk covers it; a reader asserts its chunk's stamps;
 *   - the loop's offset is where the kernel wrote (asserted at LEDGER_CHUNK);
 *   - a buffer is in the ring at most once, and never while the ledger holds it;
 *   - every buffer comes back: when nothing can move, every chunk was read and every
 *     buffer is in the ring (the head one possibly part-filled).
 *
 * Bounds (-D to change): NBUF buffers of CAP units; NCHUNKS completions in all.
 *
 * Mutants (spin -DMUT_x; scripts/check-model expects each to FAIL):
 *   MUT_READD_ON_ANY_RELEASE  every release puts the buffer back (the ledger before
 *                             incremental buffers: one chunk per buffer)
 *   MUT_NO_KERNEL_HOLD        buffers start with no hold for the kernel, and its
 *                             finishing releases nothing: a chunk's recycle puts a
 *                             buffer back while the kernel is still filling it
 *   MUT_FILL_NOT_RESET        a finished buffer's fill offset is kept, so its next
 *                             round of chunks is looked for in the wrong place
 * -DNO_DIRECT drops the direct assertion at LEDGER_READD (a buffer is added only
 * when out of the ring), to show that the end-to-end ones — a held chunk
 * overwritten, a buffer lost — catch those mutants too.
 */

#ifndef NBUF
#define NBUF 2
#endif
#ifndef CAP
#define CAP 2
#endif
#ifndef NCHUNKS
#define NCHUNKS 5
#endif
#define NUNITS (NBUF * CAP)

/* The buffer ring: a FIFO of buffer ids the kernel takes from (head) and the loop
 * adds to (tail). The kernel pops a buffer when it has filled it. */
chan ring = [2 * NBUF] of { byte };
/* Completions, in CQ order: buffer, offset the kernel wrote at, units, BUF_MORE, connection. */
chan cq = [NCHUNKS] of { byte, byte, byte, bool, byte };
/* Each reader's chunks, in order: buffer, offset, units, the stamp of its first unit. */
chan rq[2] = [NCHUNKS] of { byte, byte, byte, byte };
/* Recycles from the readers to the loop (EventLoop.recycleReceiveBuffer). */
chan recycles = [NCHUNKS] of { byte };

/* The kernel's fill position in the buffer it is filling (its own state). */
byte kpos = 0;
/* What each unit holds (a stamp), and how many held chunks cover it. */
byte stamp[NUNITS];
byte covered[NUNITS];
byte nextstamp = 1;
byte chunks = 0;
byte readchunks = 0;

/* The ledger (URingPoller: bufferHolders, bufferFill), loop thread only. */
byte holders[NBUF];
byte fill[NBUF];
/* Whether the buffer is in the ring now (for the assertions). */
bool inring[NBUF];

inline release(b) {
    /* step LEDGER_RELEASE */
    assert(holders[b] > 0);
    holders[b]--;
#ifdef MUT_READD_ON_ANY_RELEASE
    if :: true ->
#else
    if :: holders[b] == 0 ->
#endif
        /* step LEDGER_READD */
#ifndef NO_DIRECT
        assert(!inring[b]);
#endif
        holders[b] = 1;
        inring[b] = true;
        ring!b
    :: else -> skip
    fi
}

proctype Kernel() {
    byte b, n, c, u;
    bool more;
end_LEDGER_KERNEL:
    do
    /* step LEDGER_KERNEL_FILL: the head buffer's next n units, for connection c */
    :: atomic { chunks < NCHUNKS && nempty(ring) ->
            ring?<b>;
            if :: n = 1 :: CAP - kpos > 1 -> n = CAP - kpos fi;
            if :: c = 0 :: c = 1 fi;
            u = 0;
            do
            :: u < n ->
                assert(covered[b * CAP + kpos + u] == 0);  /* never over a held chunk */
                stamp[b * CAP + kpos + u] = nextstamp;
                u++
            :: else -> break
            od;
            more = kpos + n < CAP;
            cq!b,kpos,n,more,c;
            chunks++;
            nextstamp++;
            if
            :: more -> kpos = kpos + n
            :: else -> kpos = 0; ring?b; inring[b] = false
            fi;
            b = 0; n = 0; c = 0; u = 0; more = false }
    od
}

proctype Loop() {
    byte b, off, n, c, u;
    bool more;
end_LEDGER_LOOP:
    do
    :: atomic { cq?b,off,n,more,c ->
            /* step LEDGER_CHUNK */
            assert(fill[b] == off);
            holders[b]++;
            u = 0;
            do
            :: u < n -> covered[b * CAP + off + u]++; u++
            :: else -> break
            od;
            rq[c]!b,off,n,stamp[b * CAP + off];
            if
            :: more ->
                /* step LEDGER_FILL_MORE */
                fill[b] = fill[b] + n
            :: else ->
                /* step LEDGER_FINISHED */
#ifndef MUT_FILL_NOT_RESET
                fill[b] = 0;
#endif
#ifndef MUT_NO_KERNEL_HOLD
                release(b)
#else
                skip
#endif
            fi;
            b = 0; off = 0; n = 0; c = 0; u = 0; more = false }
    :: atomic { recycles?b -> release(b); b = 0 }
    od
}

proctype Reader(byte me) {
    byte b, off, n, s, u;
    byte hb, hoff, hn;
    bool holding = false;
end_LEDGER_READER:
    do
    :: atomic { rq[me]?b,off,n,s ->
            /* read the chunk: every unit still holds this chunk's stamp */
            u = 0;
            do
            :: u < n -> assert(stamp[b * CAP + off + u] == s); u++
            :: else -> break
            od;
            readchunks++;
            if
            :: !holding -> /* keep it while taking the next one (a borrowed read) */
                hb = b; hoff = off; hn = n; holding = true
            :: true ->
                u = 0;
                do
                :: u < n -> covered[b * CAP + off + u]--; u++
                :: else -> break
                od;
                recycles!b
            fi;
            b = 0; off = 0; n = 0; s = 0; u = 0 }
    :: atomic { holding ->
            u = 0;
            do
            :: u < hn -> covered[hb * CAP + hoff + u]--; u++
            :: else -> break
            od;
            recycles!hb;
            holding = false; hb = 0; hoff = 0; hn = 0; u = 0 }
    od
}

/* When nothing can move: every chunk read and recycled, every buffer back in the ring. */
active proctype Monitor() {
    byte i;
    timeout ->
    assert(readchunks == chunks);
    i = 0;
    do
    :: i < NBUF -> assert(inring[i] && holders[i] == 1); i++
    :: else -> break
    od
}

init {
    byte i;
    atomic {
        i = 0;
        do
        :: i < NBUF ->
#ifndef MUT_NO_KERNEL_HOLD
            holders[i] = 1;
#endif
            inring[i] = true;
            ring!i;
            i++
        :: else -> break
        od;
        run Kernel();
        run Loop();
        run Reader(0);
        run Reader(1)
    }
}
