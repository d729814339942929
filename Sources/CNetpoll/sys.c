// Raw system calls and macros Swift cannot reach: epoll_pwait2, eventfd, accept4,
// thread-local state, CPU affinity, thread names.
#define _GNU_SOURCE
#include "cnetpoll.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif

int cnp_epoll_pwait2(int epfd, void *events, int maxevents, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    long rc = syscall(__NR_epoll_pwait2, epfd, events, maxevents, tsp, NULL, (size_t)0);
    return rc < 0 ? -errno : (int)rc;
}

int cnp_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int cnp_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof(one));
        if (n == sizeof(one)) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

int cnp_eventfd_drain(int fd) {
    uint64_t value;
    for (;;) {
        ssize_t n = read(fd, &value, sizeof(value));
        if (n == sizeof(value)) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

static __thread void *cnp_loop_tls;
void *cnp_current_loop(void) { return cnp_loop_tls; }
void cnp_set_current_loop(void *loop) { cnp_loop_tls = loop; }

int64_t cnp_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cnp_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

void cnp_set_thread_name(const char *name) {
    char buf[16];
    size_t i = 0;
    for (; name[i] && i < 15; i++) buf[i] = name[i];
    buf[i] = 0;
    pthread_setname_np(pthread_self(), buf);
}

int cnp_accept4(int fd, struct sockaddr *addr, unsigned int *len) {
    int s = accept4(fd, addr, (socklen_t *)len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return s < 0 ? -errno : s;
}

// CNP_TSAN comes from cnetpoll.h (one detection for the annotations and the
// choice of libc I/O).
#ifdef CNP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void cnp_tsan_acquire(void *addr) { __tsan_acquire(addr); }
void cnp_tsan_release(void *addr) { __tsan_release(addr); }
const bool cnp_tsan_enabled = true;
#else
void cnp_tsan_acquire(void *addr) { (void)addr; }
void cnp_tsan_release(void *addr) { (void)addr; }
const bool cnp_tsan_enabled = false;
#endif
