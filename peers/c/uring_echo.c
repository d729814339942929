/*
 * uring_echo: epoll_echo with io_uring POLL_ADD in place of epoll, to measure
 * the readiness backend and nothing else.
 *
 * Readiness-based like the library's URingPoller: one multishot POLL_ADD
 * (POLLIN|POLLOUT|POLLRDHUP) per socket, re-armed when a CQE comes without
 * IORING_CQE_F_MORE; on readiness the same nonblocking read/write loop as
 * epoll_echo runs until EAGAIN. No IORING_OP_READ/WRITE: this is POLL_ADD vs
 * epoll, not async I/O vs readiness.
 *
 * --oneshot arms a one-shot POLL_ADD after every event instead, for the library's
 * one-shot mode (old kernels) and to show what multishot saves.
 * --setup defer|coop|plain picks the ring setup flags to start from; each falls
 * back flag by flag on EINVAL, and the flags in use are printed on stderr.
 *
 * Closing: a pending poll holds a reference to the file, so close(2) while one
 * is armed would leave the socket open and its FIN unsent. A multishot
 * connection is therefore closed only once its poll's final CQE (normally
 * -ECANCELED after our cancel) has arrived; until then the fd number
 * cannot be reused, so every CQE names the connection it was armed for.
 */
#include "echo_common.h"

#include <liburing.h>
#include "uring_common.h"
#include <poll.h>

#ifndef SQ_ENTRIES /* -DSQ_ENTRIES=4 exercises the SQ-full path */
#define SQ_ENTRIES 1024
#endif
#define CQ_ENTRIES 16384 /* one CQE per socket per wakeup: room for 500+ busy sockets */

/* user_data: the fd for polls; removals are tagged so their own CQEs, which
 * say nothing we need, are told apart. */
#define UD_REMOVE (1ULL << 32)

static struct io_uring ring;
static int oneshot;

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring))) {
        /* SQ full: hand what is queued to the kernel to make room. */
        int r = io_uring_submit(&ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            errno = -r;
            die("io_uring_submit");
        }
    }
    return sqe;
}

static void arm(int fd, unsigned mask)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (oneshot)
        io_uring_prep_poll_add(sqe, fd, mask);
    else
        io_uring_prep_poll_multishot(sqe, fd, mask);
    io_uring_sqe_set_data64(sqe, (uint64_t)fd);
}

/*
 * ASYNC_CANCEL, not POLL_REMOVE: POLL_REMOVE fails with -EALREADY and leaves a
 * multishot poll armed when a wakeup for it is being processed, which with
 * DEFER_TASKRUN is common (a FIN right after data). A socket whose peer has
 * gone gets no further wakeups, so the poll, and with it the file, would live
 * for ever. ASYNC_CANCEL marks the poll cancelled and runs it, so the final
 * -ECANCELED CQE always comes.
 */
static void remove_poll(int fd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel64(sqe, (uint64_t)fd, 0);
    io_uring_sqe_set_data64(sqe, UD_REMOVE | (uint64_t)fd);
}

static void conn_close(struct conn *c, int fd)
{
    close(fd);
    c->open = 0;
    c->closing = 0;
    c->off = c->len = 0;
}

/* The listener and the signalfd want input only, whatever the mode. */
static void handle_aux_cqe(struct io_uring_cqe *cqe, int lfd, struct conn_table *conns)
{
    int fd = (int)(uint32_t)io_uring_cqe_get_data64(cqe);
    if (fd != lfd)
        exit(0); /* the signalfd: SIGTERM or SIGINT */
    if (cqe->res < 0 && cqe->res != -ECANCELED) {
        errno = -cqe->res;
        die("poll listener");
    }
    int cfd;
    while ((cfd = accept_one(lfd)) >= 0) {
        struct conn *c = conn_get(conns, cfd);
        c->open = 1;
        c->closing = 0;
        c->off = c->len = 0;
        /* The poll reports the current state when armed, so data that is
         * already there is not missed. Queued, not submitted: it goes in with
         * the next wait, with no syscall of its own. */
        arm(cfd, oneshot ? POLLIN | POLLRDHUP : POLLIN | POLLOUT | POLLRDHUP);
    }
    if (oneshot || !(cqe->flags & IORING_CQE_F_MORE))
        arm(lfd, POLLIN);
}

static void handle_conn_cqe(struct io_uring_cqe *cqe, struct conn_table *conns)
{
    int fd = (int)(uint32_t)io_uring_cqe_get_data64(cqe);
    int more = !oneshot && (cqe->flags & IORING_CQE_F_MORE);
    struct conn *c = &conns->slots[fd];
    if (!c->open)
        return;
    if (c->closing) {
        if (!more)
            conn_close(c, fd);
        return;
    }
    if (cqe->res == -EINVAL) {
        fprintf(stderr, "uring_echo: POLL_ADD rejected (EINVAL)%s\n",
                oneshot ? "" : ": kernel without multishot poll? try --oneshot");
        exit(1);
    }

    enum echo_wait w = WAIT_CLOSE;
    if (cqe->res >= 0) {
        w = echo_service(fd, c);
        /* As in epoll_echo: HUP/ERR brings no further edge. */
        if (cqe->res & (POLLHUP | POLLERR))
            w = WAIT_CLOSE;
    }
    /* A negative res (-ECANCELED without our removal, e.g.) ended the poll:
     * the connection cannot be watched any more, so it closes. */

    if (w == WAIT_CLOSE) {
        if (more) {
            remove_poll(fd);
            c->closing = 1;
        } else {
            conn_close(c, fd);
        }
        return;
    }
    if (oneshot)
        /* Arm for exactly what blocked: a writable socket would otherwise
         * complete a POLLOUT poll at once, every time. */
        arm(fd, w == WAIT_READ ? POLLIN | POLLRDHUP : POLLOUT);
    else if (!more)
        arm(fd, POLLIN | POLLOUT | POLLRDHUP);
}

int main(int argc, char **argv)
{
    static const char extra[] = " [--oneshot] [--setup defer|coop|plain]";
    struct peer_args args = {"127.0.0.1", 0};
    int first_setup = 0;
    for (int i = 1; i < argc;) {
        int next = parse_common_arg(argc, argv, i, &args, extra);
        if (next >= 0) {
            i = next;
        } else if (strcmp(argv[i], "--oneshot") == 0) {
            oneshot = 1;
            i++;
        } else if ((next = uring_parse_setup_arg(argc, argv, i, &first_setup, extra)) >= 0) {
            i = next;
        } else {
            usage(argv[0], extra);
        }
    }

    raise_nofile();
    int sfd = signal_fd();
    const char *setup = uring_setup_ring(&ring, first_setup, SQ_ENTRIES, CQ_ENTRIES, "uring_echo");
    fprintf(stderr, "uring_echo: setup flags %s, %s POLL_ADD\n", setup, oneshot ? "one-shot" : "multishot");
    int lfd = listen_loopback(&args);
    arm(lfd, POLLIN);
    arm(sfd, POLLIN);

    struct conn_table conns = {0};
    for (;;) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            errno = -r;
            die("io_uring_submit_and_wait");
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud & UD_REMOVE) {
                /* 0, or -ENOENT when the poll had already ended. -EALREADY is
                 * not expected from ASYNC_CANCEL on a poll, but would mean the
                 * poll is still armed: ask again. */
                int fd = (int)(uint32_t)ud;
                if (cqe->res == -EALREADY && conns.slots[fd].closing)
                    remove_poll(fd);
                continue;
            }
            int fd = (int)(uint32_t)ud;
            if (fd == lfd || fd == sfd)
                handle_aux_cqe(cqe, lfd, &conns);
            else
                handle_conn_cqe(cqe, &conns);
        }
        io_uring_cq_advance(&ring, seen);
    }
}
