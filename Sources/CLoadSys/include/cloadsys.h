// CLoadSys: the epoll calls of `netpoll load`'s client.
//
// The load client shares no code with the library it measures, so it does not use
// CNetpoll; Swift's Glibc module does not import <sys/epoll.h>, so these wrappers
// do. They keep `struct epoll_event` (packed on x86-64, padded elsewhere) and the
// EPOLL* values on the C side: Swift sees descriptors, tokens and counts only.
// Every function that can fail returns `-errno`.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most events one wait reports (a larger `max` is cut to this).
#define CLOAD_EPOLL_MAX_EVENTS 256

/// epoll_create1(EPOLL_CLOEXEC): the descriptor, or -errno.
int cload_epoll_create(void);

/// Registers `fd` once, edge-triggered, for EPOLLIN|EPOLLOUT|EPOLLRDHUP, with
/// `token` as its data: 0 or -errno.
int cload_epoll_add(int epfd, int fd, uint64_t token);

/// Waits up to `timeout_ns` (negative: forever) through epoll_pwait2, by syscall(2)
/// since glibc may lack the wrapper, and copies the tokens of the ready events (at
/// most `max`) to `tokens`. The number of events, or -errno (-ENOSYS before 5.11).
int cload_epoll_pwait2(int epfd, uint64_t *tokens, int max, int64_t timeout_ns);

/// The same with epoll_wait's timeout in milliseconds (negative: forever).
int cload_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// send(fd, buf, len, MSG_NOSIGNAL) as a plain system call: the byte count or
/// -errno. glibc's send and recv are cancellation points and wrap every call in
/// pthread_enable/disable_asynccancel; the client's threads are never
/// cancelled, and on the per-message path that is measurable.
long cload_send(int fd, const void *buf, unsigned long len);

/// recv(fd, buf, len, 0) as a plain system call: the byte count (0 at EOF) or -errno.
long cload_recv(int fd, void *buf, unsigned long len);

#ifdef __cplusplus
}
#endif
