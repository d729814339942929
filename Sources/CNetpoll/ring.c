// liburing wrappers: the only place that touches struct io_uring.
#include "cnetpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <liburing.h>

struct cnp_ring {
    struct io_uring ring;
    // Provided buffers (completion mode); NULL/0 when not set up.
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    unsigned char *buffers;
    size_t buffers_bytes;
    unsigned buf_count;
    unsigned buf_size;
};

const uint32_t CNP_SETUP_SINGLE_ISSUER = IORING_SETUP_SINGLE_ISSUER;
const uint32_t CNP_SETUP_DEFER_TASKRUN = IORING_SETUP_DEFER_TASKRUN;
const uint32_t CNP_SETUP_COOP_TASKRUN = IORING_SETUP_COOP_TASKRUN;
const uint32_t CNP_SETUP_TASKRUN_FLAG = IORING_SETUP_TASKRUN_FLAG;
const uint32_t CNP_SETUP_SUBMIT_ALL = IORING_SETUP_SUBMIT_ALL;
const uint32_t CNP_FEAT_NODROP = IORING_FEAT_NODROP;
const uint32_t CNP_FEAT_EXT_ARG = IORING_FEAT_EXT_ARG;
const uint32_t CNP_CQE_F_MORE = IORING_CQE_F_MORE;
const uint32_t CNP_CQE_F_BUFFER = IORING_CQE_F_BUFFER;
const uint32_t CNP_CQE_BUFFER_SHIFT = IORING_CQE_BUFFER_SHIFT;

// The buffer group every receive selects from: one group per ring.
#define CNP_BUFFER_GROUP 0

// Linux 6.12 UAPI, newer than liburing 2.3: incrementally consumed buffer rings.
// With IOU_PBUF_RING_INC (io_uring_buf_reg's `pad`, now `flags`) the kernel takes
// a buffer a completion at a time; IORING_CQE_F_BUF_MORE says it will go on
// filling that buffer after this completion's bytes.
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
const uint32_t CNP_CQE_F_BUF_MORE = IORING_CQE_F_BUF_MORE;

int cnp_ring_create(unsigned entries, uint32_t flags, cnp_ring **out) {
    cnp_ring *r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flags;
    int rc = io_uring_queue_init_params(entries, &r->ring, &p);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cnp_ring_destroy(cnp_ring *ring) {
    if (!ring) return;
    // The ring's teardown unregisters the buffer ring; its memory goes after.
    io_uring_queue_exit(&ring->ring);
    if (ring->br) munmap(ring->br, ring->br_bytes);
    if (ring->buffers) munmap(ring->buffers, ring->buffers_bytes);
    free(ring);
}

uint32_t cnp_ring_features(const cnp_ring *ring) { return ring->ring.features; }
unsigned cnp_ring_sq_entries(const cnp_ring *ring) { return ring->ring.sq.ring_entries; }
unsigned cnp_ring_cq_entries(const cnp_ring *ring) { return ring->ring.cq.ring_entries; }

static inline void cnp_sqe_fixed(struct io_uring_sqe *sqe, bool fixed) {
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
}

bool cnp_ring_prep_poll_add(cnp_ring *ring, int fd, bool fixed, uint32_t poll_mask, uint64_t user_data, bool multishot) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    if (multishot)
        io_uring_prep_poll_multishot(sqe, fd, poll_mask);
    else
        io_uring_prep_poll_add(sqe, fd, poll_mask);
    cnp_sqe_fixed(sqe, fixed);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool cnp_ring_prep_cancel(cnp_ring *ring, uint64_t target, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool cnp_ring_prep_recv_multishot(cnp_ring *ring, int fd, bool fixed, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    cnp_sqe_fixed(sqe, fixed);
    sqe->buf_group = CNP_BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool cnp_ring_prep_accept_multishot(cnp_ring *ring, int fd, bool fixed, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    // No address: one buffer would be shared by every accept of the multishot.
    // Fixed or not, the accepted sockets are plain descriptors (not direct ones):
    // the listener's slot only saves the lookup of the listener itself.
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    cnp_sqe_fixed(sqe, fixed);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

int cnp_probe_multishot_accept(void) {
    // A listener of its own (an autobound abstract Unix socket: no file, no port),
    // one connect, and a ring that must answer with the accepted descriptor and
    // IORING_CQE_F_MORE. Kernels before 5.19 answer -EINVAL.
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) return rc;
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int cfd = -1;
    if (lfd < 0) { rc = -errno; goto out; }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    socklen_t len = sizeof(sa_family_t);
    if (bind(lfd, (struct sockaddr *)&addr, len) < 0 || listen(lfd, 1) < 0) { rc = -errno; goto out; }
    len = sizeof(addr);
    if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) { rc = -errno; goto out; }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, 1);
    if ((rc = io_uring_submit(&ring)) < 0) goto out;
    cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, len) < 0) { rc = -errno; goto out; }
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
    if (rc < 0) goto out;
    rc = cqe->res;
    if (rc >= 0) {
        close(rc);
        rc = (cqe->flags & IORING_CQE_F_MORE) ? 0 : -EINVAL;
    }
    io_uring_cqe_seen(&ring, cqe);
out:
    if (cfd >= 0) close(cfd);
    if (lfd >= 0) close(lfd);
    // The teardown cancels the multishot still armed on the listener.
    io_uring_queue_exit(&ring);
    return rc;
}

bool cnp_ring_prep_cancel_fd(cnp_ring *ring, int fd, bool fixed, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    // The cancel matches requests by their struct file, so requests issued on the
    // slot and on the plain descriptor are both found either way.
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL | (fixed ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool cnp_ring_prep_close(cnp_ring *ring, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

int cnp_ring_register_files_sparse(cnp_ring *ring, unsigned count) {
    int rc = io_uring_register_files_sparse(&ring->ring, count);
    return rc < 0 ? rc : 0;
}

bool cnp_ring_prep_files_update(cnp_ring *ring, int32_t *fd, unsigned slot, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_files_update(sqe, fd, 1, (int)slot);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool cnp_ring_prep_close_slot(cnp_ring *ring, unsigned slot, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_close_direct(sqe, slot);
    // Nothing waits for a slot's emptying: only a failure posts a CQE (5.17+,
    // older than anything fixed files are used on).
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

int cnp_probe_fixed_files(void) {
    // One socket through the whole life a connection's slot has here: into the
    // table by FILES_UPDATE, cancelled by slot (IORING_ASYNC_CANCEL_FD_FIXED: -EINVAL
    // before 6.0; -ENOENT means it was understood and found nothing), out by CLOSE.
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) return rc;
    int sv[2] = {-1, -1};
    if ((rc = io_uring_register_files_sparse(&ring, 1)) < 0) goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { rc = -errno; goto out; }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_files_update(sqe, &sv[0], 1, 0);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_close_direct(sqe, 0);
    if ((rc = io_uring_submit_and_wait(&ring, 3)) < 0) goto out;
    int answers[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        struct io_uring_cqe *cqe = NULL;
        if ((rc = io_uring_peek_cqe(&ring, &cqe)) < 0) goto out;
        answers[i] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    // Issued in order (none of the three waits). A cancel with ALL answers how many
    // it found, here 0.
    rc = answers[0] < 0 ? answers[0] : (answers[1] == -ENOENT || answers[1] >= 0) ? 0 : answers[1];
    if (rc == 0 && answers[2] < 0) rc = answers[2];
out:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    io_uring_queue_exit(&ring);
    return rc;
}

// liburing 2.3 (Debian 12) predates the flag (kernel UAPI, Linux 6.3).
#ifndef IORING_MSG_RING_FLAGS_PASS
#define IORING_MSG_RING_FLAGS_PASS (1U << 1)
#endif

bool cnp_ring_prep_post_to_self(cnp_ring *ring, int32_t res, uint64_t target_user_data, uint32_t cqe_flags, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    io_uring_prep_msg_ring(sqe, ring->ring.ring_fd, (unsigned)res, target_user_data, IORING_MSG_RING_FLAGS_PASS);
    sqe->file_index = cqe_flags;  // the target CQE's flags, with FLAGS_PASS
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

int cnp_ring_register_ring_fd(cnp_ring *ring) {
    int rc = io_uring_register_ring_fd(&ring->ring);
    return rc < 0 ? rc : 0;
}

int cnp_ring_setup_buffers(cnp_ring *ring, unsigned count, unsigned size, bool incremental) {
    if (ring->br) return -EEXIST;
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0 || size == 0) return -EINVAL;
    // liburing 2.3 has no io_uring_setup_buf_ring: the ring must be page-aligned
    // memory of our own, registered by address.
    size_t br_bytes = (size_t)count * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED) return -errno;
    // Anonymous pages: untouched buffers cost no resident memory.
    size_t buffers_bytes = (size_t)count * size;
    void *buffers = mmap(NULL, buffers_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffers == MAP_FAILED) {
        int e = errno;
        munmap(br, br_bytes);
        return -e;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = count;
    reg.bgid = CNP_BUFFER_GROUP;
    reg.pad = incremental ? IOU_PBUF_RING_INC : 0;
    int rc = io_uring_register_buf_ring(&ring->ring, &reg, 0);
    if (rc < 0) {
        munmap(br, br_bytes);
        munmap(buffers, buffers_bytes);
        return rc;
    }
    ring->br = br;
    ring->br_bytes = br_bytes;
    ring->buffers = buffers;
    ring->buffers_bytes = buffers_bytes;
    ring->buf_count = count;
    ring->buf_size = size;
    io_uring_buf_ring_init(ring->br);
    int mask = io_uring_buf_ring_mask(count);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(ring->br, ring->buffers + (size_t)i * size, size, (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(ring->br, (int)count);
    return 0;
}

int cnp_probe_incremental_buffers(void) {
    cnp_ring *r = NULL;
    int rc = cnp_ring_create(2, 0, &r);
    if (rc < 0) return rc;
    rc = cnp_ring_setup_buffers(r, 1, 4096, true);
    cnp_ring_destroy(r);
    return rc;
}

void *cnp_ring_buffer(const cnp_ring *ring, uint16_t bid) {
    if (!ring->buffers || bid >= ring->buf_count) return NULL;
    return ring->buffers + (size_t)bid * ring->buf_size;
}

void cnp_ring_recycle_buffer(cnp_ring *ring, uint16_t bid) {
    // add + advance publishes the entry with a release store of the tail.
    io_uring_buf_ring_add(ring->br, ring->buffers + (size_t)bid * ring->buf_size, ring->buf_size, bid,
                          io_uring_buf_ring_mask(ring->buf_count), 0);
    io_uring_buf_ring_advance(ring->br, 1);
}

unsigned cnp_ring_sq_pending(const cnp_ring *ring) { return io_uring_sq_ready(&ring->ring); }

int cnp_ring_submit(cnp_ring *ring, bool get_events) {
    if (get_events) return io_uring_submit_and_get_events(&ring->ring);
    if (io_uring_sq_ready(&ring->ring) == 0) return 0;
    return io_uring_submit(&ring->ring);
}

int cnp_ring_submit_and_wait(cnp_ring *ring, int64_t timeout_ns) {
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ns < 0) return io_uring_submit_and_wait(&ring->ring, 1);
    struct __kernel_timespec ts = {
        .tv_sec = timeout_ns / 1000000000,
        .tv_nsec = timeout_ns % 1000000000,
    };
    // With IORING_FEAT_EXT_ARG liburing passes the timeout to io_uring_enter
    // directly (no timeout SQE, no extra CQE); the ring is only created when the
    // kernel has it, see URingPoller.
    return io_uring_submit_and_wait_timeout(&ring->ring, &cqe, 1, &ts, NULL);
}

// Linux 6.12 UAPI, newer than liburing 2.3 (Debian 12): the feature bit, and the
// getevents argument whose `pad` became `min_wait_usec`.
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
const uint32_t CNP_FEAT_MIN_TIMEOUT = IORING_FEAT_MIN_TIMEOUT;
struct cnp_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t min_wait_usec;
    uint64_t ts;
};
// liburing's private flag (src/int_flags.h) for "the ring fd is registered":
// struct io_uring's int_flags is public, its values are not.
#define CNP_INT_FLAG_REG_RING 1

int cnp_ring_submit_and_wait_min(cnp_ring *ring, unsigned wait_nr, uint32_t min_wait_usec, int64_t timeout_ns) {
    struct io_uring *r = &ring->ring;
    // What io_uring_submit does before its enter (liburing's __io_uring_flush_sq;
    // no SQPOLL here, so a plain store of the tail): the kernel sees the queued SQEs.
    struct io_uring_sq *sq = &r->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        IO_URING_WRITE_ONCE(*sq->ktail, tail);
    }
    unsigned to_submit = tail - IO_URING_READ_ONCE(*sq->khead);
    struct __kernel_timespec ts;
    struct cnp_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.min_wait_usec = min_wait_usec;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        arg.ts = (uint64_t)(uintptr_t)&ts;
    }
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    int fd = r->ring_fd;
    if (r->int_flags & CNP_INT_FLAG_REG_RING) {
        flags |= IORING_ENTER_REGISTERED_RING;
        fd = r->enter_ring_fd;
    }
    long rc = syscall(__NR_io_uring_enter, fd, to_submit, wait_nr, flags, &arg, sizeof(arg));
    return rc < 0 ? -errno : (int)rc;
}

bool cnp_ring_needs_enter(const cnp_ring *ring) {
    unsigned flags = IO_URING_READ_ONCE(*ring->ring.sq.kflags);
    return (flags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

bool cnp_ring_cq_overflowed(const cnp_ring *ring) {
    unsigned flags = IO_URING_READ_ONCE(*ring->ring.sq.kflags);
    return (flags & IORING_SQ_CQ_OVERFLOW) != 0;
}

unsigned cnp_ring_reap(cnp_ring *ring, cnp_cqe *out, unsigned max) {
    struct io_uring *r = &ring->ring;
    unsigned head = *r->cq.khead;
    // Acquire pairs with the kernel's release of the tail: CQE contents are visible.
    unsigned tail = io_uring_smp_load_acquire(r->cq.ktail);
    unsigned n = 0;
    while (head != tail && n < max) {
        struct io_uring_cqe *cqe = &r->cq.cqes[head & r->cq.ring_mask];
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        head++;
        n++;
    }
    if (n) io_uring_cq_advance(r, n);
    return n;
}
