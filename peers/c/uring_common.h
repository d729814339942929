/*
 * What the io_uring peers share: the ring set-up that tries the best task-run
 * flags first and falls back one set at a time, and the --setup option naming
 * where to start. Include after echo_common.h (die, usage) and liburing.h.
 */
#ifndef NETPOLL_PEER_URING_COMMON_H
#define NETPOLL_PEER_URING_COMMON_H

struct setup_try {
    unsigned flags;
    const char *name;
};

static const struct setup_try uring_setups[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "SINGLE_ISSUER|COOP_TASKRUN"},
    {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
    {0, "none"},
};

/* Creates `ring` with the first flag set from `first` on that the kernel takes
 * (EINVAL: an unknown flag, try the next; anything else, e.g. EPERM from seccomp
 * or io_uring_disabled, no flag helps). Returns the name of the set in effect. */
static const char *uring_setup_ring(struct io_uring *ring, int first, unsigned sq_entries,
                                    unsigned cq_entries, const char *prog)
{
    int n = (int)(sizeof uring_setups / sizeof uring_setups[0]);
    for (int i = first; i < n; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = uring_setups[i].flags | IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
        int r = io_uring_queue_init_params(sq_entries, ring, &p);
        if (r == 0) {
            if (!(p.features & IORING_FEAT_NODROP))
                fprintf(stderr, "%s: kernel lacks IORING_FEAT_NODROP; CQ overflow loses events\n", prog);
            return uring_setups[i].name;
        }
        if (r != -EINVAL) {
            errno = -r;
            die("io_uring_queue_init_params");
        }
    }
    fprintf(stderr, "%s: io_uring_setup rejected every flag set\n", prog);
    exit(1);
}

/* `--setup defer|coop|plain` at argv[i]: sets *first and returns the next index,
 * or -1 when argv[i] is not --setup. A bad value is a usage error. */
/* --min-wait USEC: Linux 6.12's batched wait (IORING_FEAT_MIN_TIMEOUT), which
 * liburing 2.3 cannot ask for: one io_uring_enter that submits what is queued and
 * sleeps until `batch` CQEs are there, or until `usec` has passed with at least one.
 * The 6.12 getevents argument (its `pad` is min_wait_usec), liburing's SQ flush
 * and its registered-ring enter (private flag 1 in int_flags), by hand. */
struct uring_min_wait_arg {
    __u64 sigmask;
    __u32 sigmask_sz;
    __u32 min_wait_usec;
    __u64 ts;
};

static inline int uring_submit_and_wait_min(struct io_uring *ring, unsigned batch, unsigned usec)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        IO_URING_WRITE_ONCE(*sq->ktail, tail);
    }
    /* Without a general timeout the kernel ends the wait when the minimum wait
     * runs out, events or not (-ETIME): give it a minute, so past the minimum it
     * sleeps for one completion. */
    struct __kernel_timespec ts = {.tv_sec = 60, .tv_nsec = 0};
    struct uring_min_wait_arg arg = {.min_wait_usec = usec, .ts = (__u64)(uintptr_t)&ts};
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    int fd = ring->ring_fd;
    if (ring->int_flags & 1) {
        flags |= IORING_ENTER_REGISTERED_RING;
        fd = ring->enter_ring_fd;
    }
    long r = syscall(__NR_io_uring_enter, fd, tail - IO_URING_READ_ONCE(*sq->khead), batch, flags, &arg, sizeof(arg));
    return r < 0 ? -errno : (int)r;
}

static int uring_parse_setup_arg(int argc, char **argv, int i, int *first, const char *extra)
{
    if (strcmp(argv[i], "--setup") != 0 || i + 1 >= argc)
        return -1;
    if (strcmp(argv[i + 1], "defer") == 0)
        *first = 0;
    else if (strcmp(argv[i + 1], "coop") == 0)
        *first = 1;
    else if (strcmp(argv[i + 1], "plain") == 0)
        *first = 3;
    else
        usage(argv[0], extra);
    return i + 2;
}

#endif
