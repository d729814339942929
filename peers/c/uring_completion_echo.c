/*
 * uring_completion_echo: the limit for io_uring *completion mode*, as
 * epoll_echo is the limit for epoll.
 *
 * The reads move into the ring: one multishot IORING_OP_RECV per connection,
 * selecting buffers from a provided-buffer ring (512 x 4 KiB by default), so
 * the kernel reads while it processes the wakeup and a message costs no read
 * syscall and no EAGAIN read. Accept is multishot, close goes through the
 * ring (IORING_OP_CLOSE), and the loop makes one io_uring_enter per turn.
 *
 * How the echo goes back is the thing to measure, picked by --send:
 *   direct (default)  send(2) with MSG_DONTWAIT|MSG_NOSIGNAL right after the
 *                     RECV completion, as a Swift FD.write that almost always
 *                     succeeds at once would do; only the part the socket
 *                     refused (EAGAIN, short send) goes out as IORING_OP_SEND,
 *                     and later data queues behind it so bytes stay in order.
 *   ring              every echo is an IORING_OP_SEND of the ring buffer the
 *                     data arrived in; the buffer returns to the ring when
 *                     the SEND completes. Everything in the ring: the only
 *                     syscall per loop turn is io_uring_enter.
 *
 * Invariants:
 * - A connection has at most one RECV and at most one SEND in flight. One SEND
 *   at a time is what keeps the bytes in order (two SENDs on one socket may
 *   complete short and interleave); a closed-loop client has one message in
 *   flight per connection anyway.
 * - Received bytes wait in their connection's FIFO of chunks (a range of one
 *   ring buffer) until written. A ring buffer goes back to the ring when
 *   nothing holds it: not the kernel (which lets go with the completion that
 *   finishes the buffer) and no chunk. Without --inc-buffers a buffer is one
 *   chunk of one connection, as it always was. A connection whose FIFO reaches
 *   the cap (buffers/64 chunks, at least 2) has its RECV cancelled and re-armed
 *   once the FIFO is drained, so one client that does not read cannot take
 *   the whole ring from the others (the backpressure epoll_echo gets by not
 *   reading while a write is pending). The cap is seen only as CQEs are
 *   handled, and the kernel may have filled more buffers by then: with
 *   DEFER_TASKRUN one loop turn's worth; without it the cap's cancel goes out
 *   at once, but with no task-run flag at all (--setup plain) the RECV runs
 *   whenever the kernel likes and can still take the ring from a socket
 *   holding megabytes.
 * - IORING_OP_CLOSE is submitted only when nothing is in flight on the
 *   connection, so the only CQE that can still name the old descriptor number
 *   after it is reused is the CLOSE's own, which touches no connection state.
 * - A multishot RECV that ends without IORING_CQE_F_MORE (-ENOBUFS when the
 *   ring ran dry, CQ overflow, the cap's cancel) is re-armed when it can make
 *   progress: -ENOBUFS ones once buffers are back in the ring.
 *
 * Features, each off by default, so scripts/bench-peers can show what each buys
 * (the library has the same ones, as URingPoller features):
 *   --fixed-files   a sparse fixed-file table registered at start; an accepted
 *                   socket is put in a free slot by an IORING_OP_FILES_UPDATE
 *                   queued just before its first RECV (same batch, no register
 *                   syscall per socket), and every SQE on it (RECV, SEND, the
 *                   fd cancel with IORING_ASYNC_CANCEL_FD_FIXED) names the slot
 *                   with IOSQE_FIXED_FILE: the kernel skips an fdget/fdput per
 *                   operation. The slot is emptied by another FILES_UPDATE just
 *                   before the socket's CLOSE; the socket keeps its normal fd
 *                   (the direct send(2) and the CLOSE use that). A full table:
 *                   that socket uses its fd. Linux 5.19.
 *   --inc-buffers   the buffer ring is registered with IOU_PBUF_RING_INC: the
 *                   kernel fills a buffer a completion at a time, for any
 *                   connection, each completion's bytes after the last one's;
 *                   IORING_CQE_F_BUF_MORE says it will go on filling it. A
 *                   small message then takes its size of a buffer, not a whole
 *                   one. The buffer returns to the ring once the kernel has
 *                   finished it (a completion without F_BUF_MORE) and every
 *                   chunk in it has been sent. Linux 6.12.
 *   --bundle        the multishot RECV asks for bundles (IORING_RECVSEND_BUNDLE):
 *                   one completion may cover several buffers, the CQE's and the
 *                   ones after it in ring order, so a burst costs one CQE. The
 *                   direct send writes a bundle back with one sendmsg(2).
 *                   Combines with --inc-buffers. Linux 6.10.
 *
 * Peer contract and flags shared with the other peers: see echo_common.h.
 * Extra flags: --send direct|ring, --buffers N (power of two),
 * --buffer-size BYTES, --setup defer|coop|plain (as uring_echo), --min-wait USEC
 * (Linux 6.12: each wait asks for a batch of 16 CQEs or USEC with at least one,
 * as the library's `min-wait` feature; 0, the default, waits for one),
 * --fixed-files, --inc-buffers, --bundle (above). The kernel is asked for each
 * feature at start, and one it refuses is an error naming the Linux release it
 * needs. The ring setup and the features in use are printed on stderr at start,
 * counters on stderr at exit.
 */
#include "echo_common.h"

#include <liburing.h>
#include "uring_common.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/uio.h>

/* What liburing 2.3's headers predate. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2 /* io_uring_buf_reg.flags, `pad` in liburing 2.3; Linux 6.12 */
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4) /* sqe->ioprio; Linux 6.10 */
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

#ifndef SQ_ENTRIES /* -DSQ_ENTRIES=4 exercises the SQ-full path */
#define SQ_ENTRIES 1024
#endif
#define CQ_ENTRIES 16384 /* 500+ busy sockets, each a RECV and a SEND CQE per turn */
#define BGID 0
#ifndef FIXED_SLOTS /* --fixed-files' table size, at most RLIMIT_NOFILE; -DFIXED_SLOTS=8 fills it */
#define FIXED_SLOTS 65536
#endif
#define IOV_BATCH 64      /* buffers of a bundle per sendmsg(2) */

/* user_data: the operation in the top byte, the descriptor in the low 32 bits
 * (for OP_FILES, the fixed-file slot). */
enum op { OP_ACCEPT = 1, OP_SIGNAL, OP_RECV, OP_SEND, OP_CLOSE, OP_CANCEL, OP_FILES };
#define UD(op, fd) (((uint64_t)(op) << 56) | (uint32_t)(fd))
#define UD_OP(ud) ((enum op)((ud) >> 56))
#define UD_FD(ud) ((int)(uint32_t)(ud))

struct uconn {
    int32_t q_head, q_tail; /* FIFO of chunk indices, linked by chunk.next; -1 empty */
    uint32_t q_count;
    int32_t slot;          /* --fixed-files: the socket's slot in the table, -1 none */
    uint8_t open;
    uint8_t recv_armed;    /* a RECV is in flight (until its CQE without F_MORE) */
    uint8_t recv_cancel;   /* the cap asked the kernel to stop that RECV */
    uint8_t send_inflight; /* the FIFO's head is in an IORING_OP_SEND */
    uint8_t eof;           /* peer finished: close once the FIFO is written */
    uint8_t failed;        /* error: cancel what is in flight, then close */
    uint8_t starved;       /* on the starved list, waiting for ring buffers */
};

static struct io_uring ring;
static int send_ring; /* --send ring */
static unsigned min_wait_usec; /* --min-wait */
static int inc_buffers, bundle; /* --inc-buffers, --bundle */
static unsigned bundle_len;     /* --bundle: bytes per completion at most, 0 uncapped */

static struct uconn *conns;
static size_t conns_cap;

/* The provided-buffer ring, its memory and per-buffer bookkeeping. */
static struct io_uring_buf_ring *br;
static char *buf_base;
static unsigned nbufs = 512, buf_size = 4096, buf_mask, conn_cap;
static uint32_t *buf_holds; /* the kernel's hold (while in the ring) + one per chunk or piece */
static uint32_t *buf_fill;  /* --inc-buffers: bytes the kernel has filled so far; 0 otherwise */
static unsigned held;         /* buffers the kernel finished and we have not given back */
static unsigned pending_adds; /* given back, made visible at the next flush */
/* What was added where: a bundle goes on from its CQE's buffer in ring order.
 * ring_tail counts adds the kernel has seen; positions are taken mod nbufs. */
static uint16_t *ring_order;
static uint32_t *ring_pos;
static uint32_t ring_tail;

/* A chunk: unsent bytes [off, end) of ring buffer bid, queued for a connection. */
struct chunk {
    uint32_t off, end;
    int32_t next;
    uint16_t bid;
};
static struct chunk *chunks;
static uint32_t chunks_cap;
static int32_t chunk_free = -1;

/* One RECV completion's bytes, buffer by buffer (several for a bundle). */
struct piece {
    uint16_t bid;
    uint32_t off, len;
};
static struct piece *pieces;

/* --fixed-files. A slot's install SQE reads slot_fd[slot] when it is submitted,
 * which is before the slot can be emptied and handed out again; the removals
 * all read no_fd. */
static unsigned nslots;
static int *slot_fd;
static int32_t *slot_free;
static unsigned slot_free_len;
static int no_fd = -1;

/* Connections whose RECV ended for want of buffers (or was stopped by the cap
 * and is due again); a flag in the connection keeps each in here once. */
static int *starved;
static size_t starved_len, starved_cap;

static struct {
    unsigned long enters, extra_submits, accepts, recv_data, recv_rearm, enobufs,
        direct_sends, direct_partial, ring_sends, cap_stops, closes, cq_overflow,
        fixed, fixed_full, bundles, buf_more;
} st;

static struct uconn *conn_at(int fd)
{
    if ((size_t)fd >= conns_cap) {
        size_t cap = conns_cap ? conns_cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct uconn *s = realloc(conns, cap * sizeof *s);
        if (!s)
            die("realloc");
        memset(s + conns_cap, 0, (cap - conns_cap) * sizeof *s);
        conns = s;
        conns_cap = cap;
    }
    return &conns[fd];
}

/* What is queued goes to the kernel now rather than at the loop's enter. */
static void submit_now(void)
{
    st.extra_submits++;
    int r = io_uring_submit(&ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
        errno = -r;
        die("io_uring_submit");
    }
}

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring)))
        submit_now(); /* SQ full: make room */
    return sqe;
}

/* The connection's socket as an SQE names it: its fixed slot when it has one,
 * which spares the kernel an fdget/fdput per operation. */
static void sqe_file(struct io_uring_sqe *sqe, const struct uconn *c)
{
    if (c->slot >= 0) {
        sqe->fd = c->slot;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

static void prep_accept(int lfd)
{
    struct io_uring_sqe *sqe = get_sqe();
    /* Blocking sockets on purpose: io_uring's RECV/SEND poll-arm on EAGAIN
     * either way, and the direct send asks for MSG_DONTWAIT itself. */
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));
}

static void arm_recv(int fd, struct uconn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe_file(sqe, c);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    if (bundle) {
        sqe->ioprio |= IORING_RECVSEND_BUNDLE;
        sqe->len = bundle_len;
    }
    io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
    c->recv_armed = 1;
    c->recv_cancel = 0;
}

static char *buf_at(int bid)
{
    return buf_base + (size_t)bid * buf_size;
}

static void prep_send_head(int fd, struct uconn *c)
{
    const struct chunk *ch = &chunks[c->q_head];
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, fd, buf_at(ch->bid) + ch->off, ch->end - ch->off, MSG_NOSIGNAL);
    sqe_file(sqe, c);
    io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
    c->send_inflight = 1;
    st.ring_sends++;
}

static void cancel(int fd, uint64_t key_ud, int all_of_fd)
{
    const struct uconn *c = &conns[fd];
    struct io_uring_sqe *sqe = get_sqe();
    if (all_of_fd && c->slot >= 0)
        io_uring_prep_cancel_fd(sqe, c->slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    else if (all_of_fd)
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    else
        io_uring_prep_cancel64(sqe, key_ud, 0);
    io_uring_sqe_set_data64(sqe, UD(OP_CANCEL, fd));
}

/* Back to the kernel at the next flush; the slot offset keeps the adds of one
 * loop turn in order until a single tail update publishes them. The buffer goes
 * back whole, whatever --inc-buffers consumed of it, and is the kernel's again. */
static void buf_return(int bid)
{
    uint32_t pos = ring_tail + pending_adds;
    io_uring_buf_ring_add(br, buf_at(bid), buf_size, (unsigned short)bid, (int)buf_mask, (int)pending_adds);
    ring_order[pos & buf_mask] = (uint16_t)bid;
    ring_pos[bid] = pos;
    buf_holds[bid] = 1;
    pending_adds++;
    held--;
}

static void buf_flush(void)
{
    if (pending_adds) {
        io_uring_buf_ring_advance(br, (int)pending_adds);
        ring_tail += pending_adds;
        pending_adds = 0;
    }
}

static void buf_release(int bid)
{
    if (--buf_holds[bid] == 0)
        buf_return(bid);
}

/* The kernel will put nothing more in this buffer: out of the ring until its
 * chunks are sent. */
static void buf_finished(int bid)
{
    buf_fill[bid] = 0;
    held++;
    buf_release(bid);
}

static int32_t chunk_new(void)
{
    if (chunk_free < 0) {
        uint32_t cap = chunks_cap ? chunks_cap * 2 : nbufs;
        struct chunk *s = realloc(chunks, cap * sizeof *s);
        if (!s)
            die("realloc");
        for (uint32_t i = cap; i-- > chunks_cap;) {
            s[i].next = chunk_free;
            chunk_free = (int32_t)i;
        }
        chunks = s;
        chunks_cap = cap;
    }
    int32_t i = chunk_free;
    chunk_free = chunks[i].next;
    return i;
}

/* Queues bytes [off, end) of buffer bid; the chunk holds the buffer. */
static void q_push(struct uconn *c, int bid, uint32_t off, uint32_t end)
{
    int32_t i = chunk_new();
    chunks[i] = (struct chunk){.off = off, .end = end, .next = -1, .bid = (uint16_t)bid};
    buf_holds[bid]++;
    if (c->q_tail >= 0)
        chunks[c->q_tail].next = i;
    else
        c->q_head = i;
    c->q_tail = i;
    c->q_count++;
}

static void chunk_drop(int32_t i)
{
    int bid = chunks[i].bid;
    chunks[i].next = chunk_free;
    chunk_free = i;
    buf_release(bid);
}

static void q_pop(struct uconn *c)
{
    int32_t i = c->q_head;
    c->q_head = chunks[i].next;
    if (c->q_head < 0)
        c->q_tail = -1;
    c->q_count--;
    chunk_drop(i);
}

static void starve(int fd, struct uconn *c)
{
    if (c->starved)
        return;
    if (starved_len == starved_cap) {
        starved_cap = starved_cap ? starved_cap * 2 : 256;
        if (!(starved = realloc(starved, starved_cap * sizeof *starved)))
            die("realloc");
    }
    starved[starved_len++] = fd;
    c->starved = 1;
}

/* --fixed-files: the socket into a free slot, by an SQE queued before its first
 * RECV. SQEs are issued in order and FILES_UPDATE completes inline, so the RECV
 * finds the slot filled; if the update failed, the RECV fails (-EBADF) and the
 * connection closes as on any error. Success posts no CQE. */
static void fixed_install(int fd, struct uconn *c)
{
    if (!slot_free_len) {
        st.fixed_full++;
        return;
    }
    c->slot = slot_free[--slot_free_len];
    slot_fd[c->slot] = fd;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_files_update(sqe, &slot_fd[c->slot], 1, c->slot);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, UD(OP_FILES, c->slot));
    st.fixed++;
}

/* Empties the slot, else the table's reference would keep the socket open past
 * its CLOSE. Free again at once: a later install of the slot is queued after
 * this removal, so it is issued after it too. */
static void fixed_remove(struct uconn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_files_update(sqe, &no_fd, 1, c->slot);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, UD(OP_FILES, c->slot));
    slot_free[slot_free_len++] = c->slot;
    c->slot = -1;
}

/* The one place a connection ends: when nothing of it is in flight any more. */
static void maybe_close(int fd, struct uconn *c)
{
    if (!c->open || c->recv_armed || c->send_inflight)
        return;
    if (!c->failed && !(c->eof && c->q_count == 0))
        return;
    while (c->q_count)
        q_pop(c); /* failed: what was not written is dropped */
    if (c->slot >= 0)
        fixed_remove(c);
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, UD(OP_CLOSE, fd));
    c->open = 0;
    st.closes++;
}

static void fail(int fd, struct uconn *c)
{
    if (c->failed)
        return;
    c->failed = 1;
    /* Chunks not in a SEND can go at once; the SEND's head must wait for its
     * CQE, the kernel may still be reading it. */
    while (c->q_count > (uint32_t)c->send_inflight) {
        if (c->send_inflight) {
            /* drop the second entry, keep the head */
            int32_t head = c->q_head, second = chunks[head].next;
            chunks[head].next = chunks[second].next;
            if (c->q_tail == second)
                c->q_tail = head;
            c->q_count--;
            chunk_drop(second);
        } else {
            q_pop(c);
        }
    }
    if (c->recv_armed || c->send_inflight)
        cancel(fd, 0, 1);
    maybe_close(fd, c);
}

/* A RECV is due (it ended, or the cap stopped it and the FIFO drained): arm it
 * now if there are buffers to read into, else once there are. Returns whether
 * it armed one. */
static int want_recv(int fd, struct uconn *c)
{
    if (c->recv_armed || c->eof || c->failed || c->q_count >= conn_cap)
        return 0;
    if (held >= nbufs) {
        starve(fd, c);
        return 0;
    }
    st.recv_rearm++;
    arm_recv(fd, c);
    return 1;
}

/* The FIFO's head went out completely: drop it, start the next SEND. */
static void after_head_sent(int fd, struct uconn *c)
{
    q_pop(c);
    if (c->q_count && !c->failed)
        prep_send_head(fd, c);
    else if (!c->recv_armed)
        want_recv(fd, c);
    maybe_close(fd, c);
}

/* Direct mode: write what arrived straight back, a bundle with one sendmsg;
 * what the socket refuses is queued and goes out through the ring, and
 * everything after it too. */
static void echo_direct(int fd, struct uconn *c, int n)
{
    int i = 0;
    uint32_t done = 0; /* of pieces[i] */
    while (i < n) {
        ssize_t r;
        if (n - i == 1) {
            r = send(fd, buf_at(pieces[i].bid) + pieces[i].off + done, pieces[i].len - done,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            struct iovec iov[IOV_BATCH];
            int k = 0;
            for (int j = i; j < n && k < IOV_BATCH; j++, k++) {
                uint32_t skip = j == i ? done : 0;
                iov[k].iov_base = buf_at(pieces[j].bid) + pieces[j].off + skip;
                iov[k].iov_len = pieces[j].len - skip;
            }
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)k};
            r = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        st.direct_sends++;
        if (r > 0) {
            size_t m = (size_t)r;
            while (m) {
                uint32_t left = pieces[i].len - done;
                if (m < left) {
                    done += (uint32_t)m;
                    break;
                }
                m -= left;
                i++;
                done = 0;
            }
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        fail(fd, c);
        return;
    }
    if (i == n)
        return;
    st.direct_partial++;
    for (int j = i; j < n; j++)
        q_push(c, pieces[j].bid, pieces[j].off + (j == i ? done : 0), pieces[j].off + pieces[j].len);
    prep_send_head(fd, c);
}

/* A RECV's bytes as pieces of ring buffers, holding each buffer. The first
 * starts where the kernel left off filling the CQE's buffer (0 without
 * --inc-buffers); a bundle goes on into the next buffers in ring order, each
 * from its start. Every buffer but the last is finished; the last one is too
 * unless the kernel goes on filling it (F_BUF_MORE). */
static int take_pieces(const struct io_uring_cqe *cqe, int bid)
{
    uint32_t rem = (uint32_t)cqe->res;
    int n = 0;
    for (;;) {
        uint32_t off = buf_fill[bid];
        uint32_t len = rem < buf_size - off ? rem : buf_size - off;
        pieces[n++] = (struct piece){.bid = (uint16_t)bid, .off = off, .len = len};
        buf_holds[bid]++;
        rem -= len;
        if (!rem)
            break;
        buf_finished(bid);
        if (!bundle || n == (int)nbufs) {
            fprintf(stderr, "uring_completion_echo: RECV of %d bytes does not fit its buffers\n", cqe->res);
            exit(1);
        }
        /* Still this bundle's: its ring positions are overwritten only by the
         * nbufs-th add after them, and until this CQE is seen fewer are
         * possible. A buffer the kernel took before the bundle comes back once
         * at most; one it took after has its CQE after this one (the kernel
         * posts a RECV's CQE when it consumes the buffers, in order). */
        bid = ring_order[(ring_pos[bid] + 1) & buf_mask];
    }
    if (n > 1)
        st.bundles++;
    if (inc_buffers && (cqe->flags & IORING_CQE_F_BUF_MORE)) {
        buf_fill[bid] = pieces[n - 1].off + pieces[n - 1].len;
        st.buf_more++;
    } else {
        buf_finished(bid);
    }
    return n;
}

static void on_recv(struct io_uring_cqe *cqe, int fd)
{
    struct uconn *c = &conns[fd];
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    int n = 0;
    if (!more)
        c->recv_armed = 0;

    if (cqe->flags & IORING_CQE_F_BUFFER) {
        int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (cqe->res > 0)
            n = take_pieces(cqe, bid);
        else if (!inc_buffers)
            buf_finished(bid); /* EOF or error with a buffer: nothing in it */
        /* An incremental buffer nothing was read into is still the ring's. */
    }

    if (n && !c->failed) {
        st.recv_data++;
        if (!send_ring && c->q_count == 0) {
            echo_direct(fd, c, n);
        } else {
            for (int i = 0; i < n; i++)
                q_push(c, pieces[i].bid, pieces[i].off, pieces[i].off + pieces[i].len);
            if (!c->send_inflight)
                prep_send_head(fd, c);
        }
        if (c->recv_armed && !c->recv_cancel && !c->failed && c->q_count >= conn_cap) {
            /* The cap: stop reading for this connection until it drained. */
            st.cap_stops++;
            cancel(fd, UD(OP_RECV, fd), 0);
            c->recv_cancel = 1;
            /* Without DEFER_TASKRUN the kernel runs the RECV on the way out of
             * every syscall, this batch's direct sends too, and would fill
             * buffers for this connection until the loop's next enter: with a
             * client that does not read, the whole ring. */
            if (!(ring.flags & IORING_SETUP_DEFER_TASKRUN))
                submit_now();
        }
    }
    /* The pieces' holds: the queued chunks hold what is still to be sent. */
    for (int i = 0; i < n; i++)
        buf_release(pieces[i].bid);

    if (cqe->res == 0) {
        c->eof = 1;
    } else if (cqe->res == -ENOBUFS) {
        st.enobufs++;
    } else if (cqe->res == -ECANCELED && c->recv_cancel) {
        /* the cap's stop; want_recv below re-arms once drained */
    } else if (cqe->res == -EINVAL) {
        fprintf(stderr, "uring_completion_echo: multishot RECV with buffer select%s rejected (EINVAL); "
                        "needs Linux %s\n", bundle ? " and --bundle" : "", bundle ? "6.10+" : "6.0+");
        exit(1);
    } else if (cqe->res < 0) {
        fail(fd, c);
    } else if (!n) {
        fprintf(stderr, "uring_completion_echo: RECV completed without a buffer\n");
        fail(fd, c);
    }

    if (!c->recv_armed) {
        /* -ENOBUFS waits its turn on the starved list even when buffers came
         * back in this batch: rearm_starved hands them out one RECV each. */
        if (cqe->res == -ENOBUFS)
            starve(fd, c);
        else
            want_recv(fd, c);
    }
    maybe_close(fd, c);
}

static void on_send(struct io_uring_cqe *cqe, int fd)
{
    struct uconn *c = &conns[fd];
    c->send_inflight = 0;
    if (c->failed) {
        maybe_close(fd, c);
        return;
    }
    if (cqe->res < 0) {
        /* -EPIPE, -ECONNRESET: the peer is gone. */
        fail(fd, c);
        return;
    }
    struct chunk *ch = &chunks[c->q_head];
    ch->off += (uint32_t)cqe->res;
    if (ch->off < ch->end) {
        prep_send_head(fd, c); /* short send: the rest, before anything else */
        return;
    }
    after_head_sent(fd, c);
}

static void on_accept(struct io_uring_cqe *cqe, int lfd)
{
    if (cqe->res >= 0) {
        int fd = cqe->res;
        /* Go sets TCP_NODELAY on every accepted socket; so do the others. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct uconn *c = conn_at(fd);
        *c = (struct uconn){.q_head = -1, .q_tail = -1, .slot = -1, .open = 1};
        st.accepts++;
        if (nslots)
            fixed_install(fd, c);
        /* Armed even when the ring is dry: -ENOBUFS puts it on the starved
         * list, the same path as any other connection. */
        arm_recv(fd, c);
    } else if (cqe->res == -EINVAL) {
        fprintf(stderr, "uring_completion_echo: multishot accept rejected (EINVAL); needs Linux 5.19+\n");
        exit(1);
    } else if (cqe->res != -EINTR && cqe->res != -ECONNABORTED && cqe->res != -EAGAIN) {
        /* EMFILE and friends: the connection stays queued. raise_nofile()
         * makes this a misconfiguration, so say so once. */
        static int warned;
        if (!warned++)
            fprintf(stderr, "accept: %s\n", strerror(-cqe->res));
    }
    if (!(cqe->flags & IORING_CQE_F_MORE))
        prep_accept(lfd);
}

/* Re-arms as many starved RECVs as there are free buffers, oldest first: each
 * takes at least one, so arming them all after one buffer came back would only
 * buy a CQE of -ENOBUFS for each of the others. */
static void rearm_starved(void)
{
    size_t n = starved_len, armed = 0;
    unsigned budget = nbufs - held;
    starved_len = 0;
    for (size_t i = 0; i < n; i++) {
        int fd = starved[i];
        struct uconn *c = &conns[fd];
        c->starved = 0;
        if (!c->open)
            continue;
        if (armed >= budget) {
            starve(fd, c); /* keeps the order: these go first next time */
            continue;
        }
        armed += (size_t)want_recv(fd, c);
    }
}

/* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves
 * (page-aligned, as the kernel requires) and register it. */
static void setup_buffers(void)
{
    size_t ring_bytes = (size_t)nbufs * sizeof(struct io_uring_buf);
    long page = sysconf(_SC_PAGESIZE);
    ring_bytes = (ring_bytes + (size_t)page - 1) & ~((size_t)page - 1);
    void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap buffer ring");
    br = mem;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = nbufs;
    reg.bgid = BGID;
    reg.pad = inc_buffers ? IOU_PBUF_RING_INC : 0; /* `flags` since Linux 6.12 */
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0 && inc_buffers && r == -EINVAL) {
        fprintf(stderr, "uring_completion_echo: --inc-buffers: the kernel refused IOU_PBUF_RING_INC "
                        "(incrementally consumed buffers need Linux 6.12+)\n");
        exit(1);
    }
    if (r < 0) {
        fprintf(stderr, "uring_completion_echo: io_uring_register_buf_ring: %s (needs Linux 5.19+)\n", strerror(-r));
        exit(1);
    }
    buf_base = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buf_base == MAP_FAILED)
        die("mmap buffers");
    buf_holds = calloc(nbufs, sizeof *buf_holds);
    buf_fill = calloc(nbufs, sizeof *buf_fill);
    ring_order = calloc(nbufs, sizeof *ring_order);
    ring_pos = calloc(nbufs, sizeof *ring_pos);
    pieces = calloc(nbufs, sizeof *pieces);
    if (!buf_holds || !buf_fill || !ring_order || !ring_pos || !pieces)
        die("calloc");
    buf_mask = (unsigned)io_uring_buf_ring_mask(nbufs);
    held = nbufs; /* buf_return counts them back in */
    for (unsigned i = 0; i < nbufs; i++)
        buf_return((int)i);
    buf_flush();
    conn_cap = nbufs / 64 < 2 ? 2 : nbufs / 64;
}

/* --bundle. One bundle may take up to 256 buffers and a retry appends more, so
 * a client that does not read could take the whole ring in one completion,
 * before the cap is ever looked at. Kernels that take a length on a multishot
 * RECV (later than 6.10, which refuses one) make it a cap per completion, and
 * a capped one yields to the other requests: a bundle is then the connection
 * cap's worth at most. The probe: such a RECV on a socketpair, before the
 * buffer ring exists, ends at once either way, -EINVAL if the length is
 * refused, else -ENOBUFS. */
static void probe_bundle_len(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    unsigned want = (nbufs / 64 < 2 ? 2 : nbufs / 64) * buf_size;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    sqe->ioprio |= IORING_RECVSEND_BUNDLE;
    sqe->len = want;
    io_uring_sqe_set_data64(sqe, 0);
    int r = io_uring_submit_and_wait(&ring, 1);
    struct io_uring_cqe *cqe;
    if (r < 0 || io_uring_peek_cqe(&ring, &cqe) < 0) {
        errno = r < 0 ? -r : EIO;
        die("probing multishot RECV length");
    }
    if (cqe->res != -EINVAL)
        bundle_len = want;
    io_uring_cqe_seen(&ring, cqe);
    close(sv[0]);
    close(sv[1]);
}

/* --fixed-files: an empty table, filled a socket at a time from the ring. */
static void setup_fixed_files(void)
{
    struct rlimit rl;
    nslots = FIXED_SLOTS;
    /* The kernel refuses a table larger than RLIMIT_NOFILE. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nslots)
        nslots = (unsigned)rl.rlim_cur;
    int r = io_uring_register_files_sparse(&ring, nslots);
    if (r < 0) {
        fprintf(stderr, "uring_completion_echo: --fixed-files: registering a sparse file table of %u: %s "
                        "(needs Linux 5.19+)\n", nslots, strerror(-r));
        exit(1);
    }
    slot_fd = calloc(nslots, sizeof *slot_fd);
    slot_free = calloc(nslots, sizeof *slot_free);
    if (!slot_fd || !slot_free)
        die("calloc");
    /* Low slots first. */
    for (unsigned i = nslots; i-- > 0;)
        slot_free[slot_free_len++] = (int32_t)i;
}

static void print_stats(void)
{
    fprintf(stderr,
            "uring_completion_echo: enters=%lu extra_submits=%lu accepts=%lu closes=%lu recv_data=%lu "
            "recv_rearm=%lu enobufs=%lu cap_stops=%lu direct_sends=%lu direct_partial=%lu ring_sends=%lu "
            "cq_overflow=%lu fixed=%lu fixed_full=%lu bundles=%lu buf_more=%lu\n",
            st.enters, st.extra_submits, st.accepts, st.closes, st.recv_data, st.recv_rearm, st.enobufs,
            st.cap_stops, st.direct_sends, st.direct_partial, st.ring_sends, st.cq_overflow, st.fixed,
            st.fixed_full, st.bundles, st.buf_more);
}

static unsigned parse_uint(const char *prog, const char *s, const char *extra)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end || v == 0 || v > (1UL << 30))
        usage(prog, extra);
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    static const char extra[] =
        " [--send direct|ring] [--buffers N] [--buffer-size BYTES] [--setup defer|coop|plain] [--min-wait USEC]"
        " [--fixed-files] [--inc-buffers] [--bundle]";
    struct peer_args args = {"127.0.0.1", 0};
    int first_setup = 0, fixed_files = 0;
    for (int i = 1; i < argc;) {
        int next = parse_common_arg(argc, argv, i, &args, extra);
        if (next >= 0) {
            i = next;
        } else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc) {
            if (strcmp(argv[i + 1], "direct") == 0)
                send_ring = 0;
            else if (strcmp(argv[i + 1], "ring") == 0)
                send_ring = 1;
            else
                usage(argv[0], extra);
            i += 2;
        } else if (strcmp(argv[i], "--buffers") == 0 && i + 1 < argc) {
            nbufs = parse_uint(argv[0], argv[i + 1], extra);
            /* The kernel takes a power of two up to 32768 entries. */
            if (nbufs > 32768 || (nbufs & (nbufs - 1)))
                usage(argv[0], extra);
            i += 2;
        } else if (strcmp(argv[i], "--min-wait") == 0 && i + 1 < argc) {
            min_wait_usec = parse_uint(argv[0], argv[i + 1], extra);
            i += 2;
        } else if (strcmp(argv[i], "--buffer-size") == 0 && i + 1 < argc) {
            buf_size = parse_uint(argv[0], argv[i + 1], extra);
            i += 2;
        } else if (strcmp(argv[i], "--fixed-files") == 0) {
            fixed_files = 1;
            i++;
        } else if (strcmp(argv[i], "--inc-buffers") == 0) {
            inc_buffers = 1;
            i++;
        } else if (strcmp(argv[i], "--bundle") == 0) {
            bundle = 1;
            i++;
        } else if ((next = uring_parse_setup_arg(argc, argv, i, &first_setup, extra)) >= 0) {
            i = next;
        } else {
            usage(argv[0], extra);
        }
    }

    raise_nofile();
    int sfd = signal_fd();
    const char *setup = uring_setup_ring(&ring, first_setup, SQ_ENTRIES, CQ_ENTRIES, "uring_completion_echo");
    /* One fewer fdget per io_uring_enter; refused on kernels before 5.18. */
    int registered = io_uring_register_ring_fd(&ring) == 1;
    if (bundle && !(ring.features & IORING_FEAT_RECVSEND_BUNDLE)) {
        fprintf(stderr, "uring_completion_echo: --bundle: the kernel lacks IORING_FEAT_RECVSEND_BUNDLE "
                        "(RECV bundles need Linux 6.10+)\n");
        exit(1);
    }
    if (bundle)
        probe_bundle_len();
    setup_buffers();
    if (fixed_files)
        setup_fixed_files();
    char features[160], bundle_desc[64] = "";
    if (bundle && bundle_len)
        snprintf(bundle_desc, sizeof bundle_desc, " bundle (at most %u B each)", bundle_len);
    else if (bundle)
        snprintf(bundle_desc, sizeof bundle_desc, " bundle (uncapped: no multishot RECV length here)");
    snprintf(features, sizeof features, "%s%s%s", fixed_files ? " fixed-files" : "",
             inc_buffers ? " inc-buffers" : "", bundle_desc);
    fprintf(stderr,
            "uring_completion_echo: setup flags %s, ring fd %s, %u x %u B buffers, send %s, min-wait %u us, "
            "features%s\n",
            setup, registered ? "registered" : "not registered", nbufs, buf_size, send_ring ? "ring" : "direct",
            min_wait_usec, features[0] ? features : " none");
    int lfd = listen_loopback(&args);
    prep_accept(lfd);
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_poll_add(sqe, sfd, POLLIN);
    io_uring_sqe_set_data64(sqe, UD(OP_SIGNAL, sfd));

    for (;;) {
        if (starved_len && held < nbufs)
            rearm_starved();
        buf_flush();
        st.enters++;
        int r = min_wait_usec ? uring_submit_and_wait_min(&ring, 16, min_wait_usec) : io_uring_submit_and_wait(&ring, 1);
        /* EINTR: a signal other than ours; EBUSY/EAGAIN: CQ overflow backlog or
         * no memory for now; ETIME: a batched wait's minute ran out. The CQEs we
         * have are processed either way. */
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
            errno = -r;
            die("io_uring_submit_and_wait");
        }
        if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
            st.cq_overflow++; /* flushed by the next enter; multishots that hit it end, and re-arm */
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int fd = UD_FD(ud);
            switch (UD_OP(ud)) {
            case OP_RECV:
                on_recv(cqe, fd);
                break;
            case OP_SEND:
                on_send(cqe, fd);
                break;
            case OP_ACCEPT:
                on_accept(cqe, fd);
                break;
            case OP_SIGNAL:
                print_stats();
                return 0; /* SIGTERM or SIGINT; the kernel closes the rest */
            case OP_CLOSE:
                if (cqe->res < 0) {
                    static int warned;
                    if (!warned++)
                        fprintf(stderr, "close: %s\n", strerror(-cqe->res));
                }
                break;
            case OP_FILES:
                /* Only failures post (CQE_SKIP_SUCCESS); a failed install
                 * shows as its RECV's -EBADF, which closes the connection. */
                if (cqe->res < 0) {
                    static int warned;
                    if (!warned++)
                        fprintf(stderr, "fixed-file slot %d update: %s\n", fd, strerror(-cqe->res));
                }
                break;
            case OP_CANCEL:
                /* 0 or -ENOENT (it had ended already). -EALREADY would mean
                 * the target is still running: ask again while it matters. */
                if (cqe->res == -EALREADY && fd < (int)conns_cap && conns[fd].open &&
                    (conns[fd].failed || conns[fd].recv_cancel))
                    cancel(fd, UD(OP_RECV, fd), conns[fd].failed);
                break;
            default:
                fprintf(stderr, "uring_completion_echo: unknown user_data %#llx\n", (unsigned long long)ud);
                exit(1);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
