// liburing wrappers: the only place that touches struct io_uring.
#include "cnetpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>

struct cnp_ring {
    struct io_uring ring;
};

const uint32_t CNP_SETUP_SINGLE_ISSUER = IORING_SETUP_SINGLE_ISSUER;
const uint32_t CNP_SETUP_DEFER_TASKRUN = IORING_SETUP_DEFER_TASKRUN;
const uint32_t CNP_SETUP_COOP_TASKRUN = IORING_SETUP_COOP_TASKRUN;
const uint32_t CNP_SETUP_TASKRUN_FLAG = IORING_SETUP_TASKRUN_FLAG;
const uint32_t CNP_SETUP_SUBMIT_ALL = IORING_SETUP_SUBMIT_ALL;
const uint32_t CNP_FEAT_NODROP = IORING_FEAT_NODROP;
const uint32_t CNP_FEAT_EXT_ARG = IORING_FEAT_EXT_ARG;
const uint32_t CNP_CQE_F_MORE = IORING_CQE_F_MORE;

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
    io_uring_queue_exit(&ring->ring);
    free(ring);
}

uint32_t cnp_ring_features(const cnp_ring *ring) { return ring->ring.features; }
unsigned cnp_ring_sq_entries(const cnp_ring *ring) { return ring->ring.sq.ring_entries; }
unsigned cnp_ring_cq_entries(const cnp_ring *ring) { return ring->ring.cq.ring_entries; }

bool cnp_ring_prep_poll_add(cnp_ring *ring, int fd, uint32_t poll_mask, uint64_t user_data, bool multishot) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (!sqe) return false;
    if (multishot)
        io_uring_prep_poll_multishot(sqe, fd, poll_mask);
    else
        io_uring_prep_poll_add(sqe, fd, poll_mask);
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

bool cnp_ring_needs_enter(const cnp_ring *ring) {
    unsigned flags = IO_URING_READ_ONCE(*ring->ring.sq.kflags);
    return (flags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
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
