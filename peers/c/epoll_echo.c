/*
 * epoll_echo: the baseline every other echo server is measured against.
 *
 * One thread, edge-triggered epoll: each socket is registered once with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET (as Go's netpoll and our EpollPoller do)
 * and never modified, so the steady state is epoll_wait + read + write and
 * nothing else: no epoll_ctl, no malloc.
 */
#include "echo_common.h"

#include <sys/epoll.h>

#define MAX_EVENTS 256 /* Go uses 128; more only batches bigger under 500+ connections */

static void conn_close(int epfd, struct conn *c, int fd)
{
    /* close(2) drops the epoll registration too, but only when no other
     * descriptor shares the file; say it explicitly as the library does. */
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    c->open = 0;
    c->off = c->len = 0;
}

int main(int argc, char **argv)
{
    struct peer_args args = {"127.0.0.1", 0};
    for (int i = 1; i < argc;) {
        int next = parse_common_arg(argc, argv, i, &args, "");
        if (next < 0)
            usage(argv[0], "");
        i = next;
    }

    raise_nofile();
    int sfd = signal_fd();
    int lfd = listen_loopback(&args);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");

    /* The listener and the signalfd are told apart from connections by fd
     * number, so data.fd is enough and no lookup is needed. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl listener");
    ev = (struct epoll_event){.events = EPOLLIN, .data.fd = sfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0)
        die("epoll_ctl signalfd");

    struct conn_table conns = {0};
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            uint32_t e = events[i].events;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept_one(lfd)) >= 0) {
                    struct conn *c = conn_get(&conns, cfd);
                    c->open = 1;
                    c->off = c->len = 0;
                    struct epoll_event cev = {
                        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                        .data.fd = cfd,
                    };
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev) < 0) {
                        fprintf(stderr, "epoll_ctl: %s\n", strerror(errno));
                        close(cfd);
                        c->open = 0;
                    }
                    /* No read yet: registration with EPOLLET reports the
                     * current state, so data that is already there shows up
                     * in the next epoll_wait. */
                }
                continue;
            }
            if (fd == sfd)
                return 0; /* SIGTERM or SIGINT; the kernel closes the rest */

            struct conn *c = &conns.slots[fd];
            if (!c->open)
                continue; /* closed earlier in this batch */
            enum echo_wait w = echo_service(fd, c);
            /* HUP/ERR with nothing to read or write left would otherwise wait
             * forever: no further edge comes. */
            if (w == WAIT_CLOSE || (e & (EPOLLHUP | EPOLLERR)))
                conn_close(epfd, c, fd);
        }
    }
}
