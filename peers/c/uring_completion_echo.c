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
 * - A received buffer belongs to exactly one connection's FIFO until all its
 *   bytes are written, then goes back to the ring. A connection whose FIFO
 *   reaches the cap (buffers/64, at least 2) has its RECV cancelled and
 *   re-armed once the FIFO is drained, so one client that does not read cannot
 *   take the whole ring from the others (the backpressure epoll_echo gets by
 *   not reading while a write is pending).
 * - IORING_OP_CLOSE is submitted only when nothing is in flight on the
 *   connection, so the only CQE that can still name the old descriptor number
 *   after it is reused is the CLOSE's own, which touches no connection state.
 * - A multishot RECV that ends without IORING_CQE_F_MORE (-ENOBUFS when the
 *   ring ran dry, CQ overflow, the cap's cancel) is re-armed when it can make
 *   progress: -ENOBUFS ones once buffers are back in the ring.
 *
 * Peer contract and flags shared with the other peers: see echo_common.h.
 * Extra flags: --send direct|ring, --buffers N (power of two),
 * --buffer-size BYTES, --setup defer|coop|plain (as uring_echo), --min-wait USEC
 * (Linux 6.12: each wait asks for a batch of 16 CQEs or USEC with at least one,
 * as the library's `min-wait` feature; 0, the default, waits for one). The ring
 * setup in use is printed on stderr at start, counters on stderr at exit.
 */
#include "echo_common.h"

#include <liburing.h>
#include "uring_common.h"
#include <poll.h>
#include <sys/mman.h>

#ifndef SQ_ENTRIES /* -DSQ_ENTRIES=4 exercises the SQ-full path */
#define SQ_ENTRIES 1024
#endif
#define CQ_ENTRIES 16384 /* 500+ busy sockets, each a RECV and a SEND CQE per turn */
#define BGID 0

/* user_data: the operation in the top byte, the descriptor in the low 32 bits. */
enum op { OP_ACCEPT = 1, OP_SIGNAL, OP_RECV, OP_SEND, OP_CLOSE, OP_CANCEL };
#define UD(op, fd) (((uint64_t)(op) << 56) | (uint32_t)(fd))
#define UD_OP(ud) ((enum op)((ud) >> 56))
#define UD_FD(ud) ((int)(uint32_t)(ud))

struct uconn {
    int32_t q_head, q_tail; /* FIFO of held buffer ids, linked by buf_next; -1 empty */
    uint32_t q_count;
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

static struct uconn *conns;
static size_t conns_cap;

/* The provided-buffer ring, its memory and per-buffer bookkeeping. */
static struct io_uring_buf_ring *br;
static char *buf_base;
static unsigned nbufs = 512, buf_size = 4096, buf_mask, conn_cap;
static uint32_t *buf_off, *buf_len; /* unsent bytes of a held buffer: [off, len) */
static int32_t *buf_next;
static unsigned held;         /* buffers we got in CQEs and have not given back */
static unsigned pending_adds; /* given back, made visible at the next flush */

/* Connections whose RECV ended for want of buffers (or was stopped by the cap
 * and is due again); a flag in the connection keeps each in here once. */
static int *starved;
static size_t starved_len, starved_cap;

static struct {
    unsigned long enters, extra_submits, accepts, recv_data, recv_rearm, enobufs,
        direct_sends, direct_partial, ring_sends, cap_stops, closes, cq_overflow;
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

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring))) {
        /* SQ full: hand what is queued to the kernel to make room. */
        st.extra_submits++;
        int r = io_uring_submit(&ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            errno = -r;
            die("io_uring_submit");
        }
    }
    return sqe;
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
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
    c->recv_armed = 1;
    c->recv_cancel = 0;
}

static void prep_send_head(int fd, struct uconn *c)
{
    int bid = c->q_head;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, fd, buf_base + (size_t)bid * buf_size + buf_off[bid],
                       buf_len[bid] - buf_off[bid], MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
    c->send_inflight = 1;
    st.ring_sends++;
}

static void cancel(int fd, uint64_t key_ud, int all_of_fd)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (all_of_fd)
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    else
        io_uring_prep_cancel64(sqe, key_ud, 0);
    io_uring_sqe_set_data64(sqe, UD(OP_CANCEL, fd));
}

/* Back to the kernel at the next flush; the slot offset keeps the adds of one
 * loop turn in order until a single tail update publishes them. */
static void buf_return(int bid)
{
    io_uring_buf_ring_add(br, buf_base + (size_t)bid * buf_size, buf_size, (unsigned short)bid,
                          (int)buf_mask, (int)pending_adds);
    pending_adds++;
    held--;
}

static void buf_flush(void)
{
    if (pending_adds) {
        io_uring_buf_ring_advance(br, (int)pending_adds);
        pending_adds = 0;
    }
}

static void q_push(struct uconn *c, int bid, uint32_t off, uint32_t len)
{
    buf_off[bid] = off;
    buf_len[bid] = len;
    buf_next[bid] = -1;
    if (c->q_tail >= 0)
        buf_next[c->q_tail] = bid;
    else
        c->q_head = bid;
    c->q_tail = bid;
    c->q_count++;
}

static void q_pop(struct uconn *c)
{
    int bid = c->q_head;
    c->q_head = buf_next[bid];
    if (c->q_head < 0)
        c->q_tail = -1;
    c->q_count--;
    buf_return(bid);
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

/* The one place a connection ends: when nothing of it is in flight any more. */
static void maybe_close(int fd, struct uconn *c)
{
    if (!c->open || c->recv_armed || c->send_inflight)
        return;
    if (!c->failed && !(c->eof && c->q_count == 0))
        return;
    while (c->q_count)
        q_pop(c); /* failed: what was not written is dropped */
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
    /* Buffers not in a SEND can go at once; the SEND's head must wait for its
     * CQE, the kernel may still be reading it. */
    while (c->q_count > (uint32_t)c->send_inflight) {
        int bid = c->q_head;
        if (c->send_inflight) {
            /* drop the second entry, keep the head */
            int second = buf_next[bid];
            buf_next[bid] = buf_next[second];
            if (c->q_tail == second)
                c->q_tail = bid;
            c->q_count--;
            buf_return(second);
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

/* The FIFO's head went out completely: return it, start the next SEND. */
static void after_head_sent(int fd, struct uconn *c)
{
    q_pop(c);
    if (c->q_count && !c->failed)
        prep_send_head(fd, c);
    else if (!c->recv_armed)
        want_recv(fd, c);
    maybe_close(fd, c);
}

/* Direct mode: write what arrived straight back; what the socket refuses is
 * queued and goes out through the ring, and everything after it too. */
static void echo_direct(int fd, struct uconn *c, int bid, uint32_t len)
{
    const char *p = buf_base + (size_t)bid * buf_size;
    uint32_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        st.direct_sends++;
        if (n > 0) {
            off += (uint32_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        buf_return(bid);
        fail(fd, c);
        return;
    }
    if (off == len) {
        buf_return(bid);
        return;
    }
    st.direct_partial++;
    q_push(c, bid, off, len);
    prep_send_head(fd, c);
}

static void on_recv(struct io_uring_cqe *cqe, int fd)
{
    struct uconn *c = &conns[fd];
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    int bid = (cqe->flags & IORING_CQE_F_BUFFER) ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    if (bid >= 0)
        held++;
    if (!more)
        c->recv_armed = 0;

    if (cqe->res > 0 && bid >= 0 && !c->failed) {
        st.recv_data++;
        if (!send_ring && c->q_count == 0) {
            echo_direct(fd, c, bid, (uint32_t)cqe->res);
        } else {
            q_push(c, bid, 0, (uint32_t)cqe->res);
            if (!c->send_inflight)
                prep_send_head(fd, c);
        }
        if (c->recv_armed && !c->recv_cancel && c->q_count >= conn_cap) {
            /* The cap: stop reading for this connection until it drained. */
            st.cap_stops++;
            cancel(fd, UD(OP_RECV, fd), 0);
            c->recv_cancel = 1;
        }
    } else if (bid >= 0) {
        buf_return(bid); /* EOF or error with a buffer, or data after failing */
    }

    if (cqe->res == 0) {
        c->eof = 1;
    } else if (cqe->res == -ENOBUFS) {
        st.enobufs++;
    } else if (cqe->res == -ECANCELED && c->recv_cancel) {
        /* the cap's stop; want_recv below re-arms once drained */
    } else if (cqe->res == -EINVAL) {
        fprintf(stderr, "uring_completion_echo: multishot RECV with buffer select rejected (EINVAL); "
                        "needs Linux 6.0+\n");
        exit(1);
    } else if (cqe->res < 0) {
        fail(fd, c);
    } else if (bid < 0) {
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
    int bid = c->q_head;
    buf_off[bid] += (uint32_t)cqe->res;
    if (buf_off[bid] < buf_len[bid]) {
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
        *c = (struct uconn){.q_head = -1, .q_tail = -1, .open = 1};
        st.accepts++;
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
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) {
        fprintf(stderr, "uring_completion_echo: io_uring_register_buf_ring: %s (needs Linux 5.19+)\n", strerror(-r));
        exit(1);
    }
    buf_base = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buf_base == MAP_FAILED)
        die("mmap buffers");
    buf_off = calloc(nbufs, sizeof *buf_off);
    buf_len = calloc(nbufs, sizeof *buf_len);
    buf_next = calloc(nbufs, sizeof *buf_next);
    if (!buf_off || !buf_len || !buf_next)
        die("calloc");
    buf_mask = (unsigned)io_uring_buf_ring_mask(nbufs);
    held = nbufs; /* buf_return counts them back in */
    for (unsigned i = 0; i < nbufs; i++)
        buf_return((int)i);
    buf_flush();
    conn_cap = nbufs / 64 < 2 ? 2 : nbufs / 64;
}

static void print_stats(void)
{
    fprintf(stderr,
            "uring_completion_echo: enters=%lu extra_submits=%lu accepts=%lu closes=%lu recv_data=%lu "
            "recv_rearm=%lu enobufs=%lu cap_stops=%lu direct_sends=%lu direct_partial=%lu ring_sends=%lu "
            "cq_overflow=%lu\n",
            st.enters, st.extra_submits, st.accepts, st.closes, st.recv_data, st.recv_rearm, st.enobufs,
            st.cap_stops, st.direct_sends, st.direct_partial, st.ring_sends, st.cq_overflow);
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
        " [--send direct|ring] [--buffers N] [--buffer-size BYTES] [--setup defer|coop|plain] [--min-wait USEC]";
    struct peer_args args = {"127.0.0.1", 0};
    int first_setup = 0;
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
    setup_buffers();
    fprintf(stderr, "uring_completion_echo: setup flags %s, ring fd %s, %u x %u B buffers, send %s, min-wait %u us\n",
            setup, registered ? "registered" : "not registered", nbufs, buf_size, send_ring ? "ring" : "direct",
            min_wait_usec);
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
