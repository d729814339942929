// The load client's epoll and socket calls (see cloadsys.h).
#include "cloadsys.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif

int cload_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cload_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event event = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = token,
    };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

/// The count `n` of a wait into `events`, or -errno; on success the tokens are
/// copied to `tokens`.
static int tokens_of(int n, const struct epoll_event *events, uint64_t *tokens) {
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}

int cload_epoll_pwait2(int epfd, uint64_t *tokens, int max, int64_t timeout_ns) {
    struct epoll_event events[CLOAD_EPOLL_MAX_EVENTS];
    if (max > CLOAD_EPOLL_MAX_EVENTS) max = CLOAD_EPOLL_MAX_EVENTS;
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    long n = syscall(__NR_epoll_pwait2, epfd, events, max, tsp, NULL, (size_t)0);
    return tokens_of((int)n, events, tokens);
}

int cload_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event events[CLOAD_EPOLL_MAX_EVENTS];
    if (max > CLOAD_EPOLL_MAX_EVENTS) max = CLOAD_EPOLL_MAX_EVENTS;
    return tokens_of(epoll_wait(epfd, events, max, timeout_ms), events, tokens);
}

long cload_send(int fd, const void *buf, unsigned long len) {
    long n = syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL, NULL, 0);
    return n < 0 ? -errno : n;
}

long cload_recv(int fd, void *buf, unsigned long len) {
    long n = syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
    return n < 0 ? -errno : n;
}
