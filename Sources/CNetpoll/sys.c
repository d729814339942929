// Raw system calls and macros Swift cannot reach: epoll_pwait2, eventfd, seccomp.
#define _GNU_SOURCE
#include "cnetpoll.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
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

#if defined(__x86_64__)
#define CNP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CNP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int cnp_seccomp_deny_io_uring(int errno_value) {
    unsigned ret_errno = SECCOMP_RET_ERRNO | ((unsigned)errno_value & SECCOMP_RET_DATA);
    struct sock_filter filter[] = {
#ifdef CNP_AUDIT_ARCH
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CNP_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, ret_errno),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter,
    };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    // Plain prctl (not seccomp(2) with TSYNC): the filter binds this thread only.
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return -errno;
    return 0;
}


static __thread void *cnp_loop_tls;
void *cnp_current_loop(void) { return cnp_loop_tls; }
void cnp_set_current_loop(void *loop) { cnp_loop_tls = loop; }

int64_t cnp_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#include <sched.h>
#include <pthread.h>
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

#include <sys/socket.h>
int cnp_accept4(int fd, struct sockaddr *addr, unsigned int *len) {
    return accept4(fd, addr, (socklen_t *)len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CNP_TSAN 1
#endif
#endif
#ifdef CNP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void cnp_tsan_acquire(void *addr) { __tsan_acquire(addr); }
void cnp_tsan_release(void *addr) { __tsan_release(addr); }
#else
void cnp_tsan_acquire(void *addr) { (void)addr; }
void cnp_tsan_release(void *addr) { (void)addr; }
#endif
