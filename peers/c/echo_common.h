/*
 * What the C peer servers share, so that epoll_echo.c and uring_echo.c differ
 * only in how they learn about readiness: arguments, the listening socket and
 * the per-connection echo step.
 *
 * Peer contract (scripts/bench-peers and `netpoll bench` rely on it): started as
 * `COMMAND --host 127.0.0.1 --port 0`, bind and listen on a loopback address
 * only, print exactly `listening on HOST:PORT` as the first stdout line, echo
 * every byte of every connection in order, one thread, exit 0 promptly on
 * SIGTERM or SIGINT.
 *
 * The readiness helpers (conn_get, echo_service, accept_one) are static inline
 * so that uring_completion_echo.c, which reads and accepts through the ring,
 * can include the rest without unused-function errors.
 */
#ifndef NETPOLL_PEER_ECHO_COMMON_H
#define NETPOLL_PEER_ECHO_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Go's io.Copy uses 32 KiB and the Go peer 64 KiB; one read can take a whole
 * burst from a pipelining client either way. */
#define CONN_BUF_SIZE (64 * 1024)
#define LISTEN_BACKLOG 4096

/*
 * One slot per fd number. The buffer is allocated the first time a slot is
 * used and kept when the connection closes, so a reused fd costs no malloc and
 * the steady state costs none at all.
 *
 * Invariant: len > 0 only while the socket refused part of an echo; the
 * server reads again only after that remainder is written, which is the
 * backpressure that keeps bytes in order and memory bounded.
 */
struct conn {
    char *buf;
    uint32_t off; /* first byte of buf not yet written back */
    uint32_t len; /* end of the bytes read into buf */
    uint8_t open;
    uint8_t closing; /* uring only: poll removal pending, close(2) after */
};

struct conn_table {
    struct conn *slots;
    size_t cap;
};

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static inline struct conn *conn_get(struct conn_table *t, int fd)
{
    if ((size_t)fd >= t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct conn *s = realloc(t->slots, cap * sizeof *s);
        if (!s)
            die("realloc");
        memset(s + t->cap, 0, (cap - t->cap) * sizeof *s);
        t->slots = s;
        t->cap = cap;
    }
    struct conn *c = &t->slots[fd];
    if (!c->buf && !(c->buf = malloc(CONN_BUF_SIZE)))
        die("malloc");
    return c;
}

enum echo_wait { WAIT_READ, WAIT_WRITE, WAIT_CLOSE };

/*
 * Echo until the socket says EAGAIN, which is what edge-triggered readiness
 * (epoll ET, multishot POLL_ADD) requires: the next notification comes only
 * after that. Returns what the connection is now waiting for.
 */
static inline enum echo_wait echo_service(int fd, struct conn *c)
{
    for (;;) {
        while (c->off < c->len) {
            ssize_t n = write(fd, c->buf + c->off, c->len - c->off);
            if (n > 0) {
                c->off += (uint32_t)n;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && errno == EAGAIN) {
                return WAIT_WRITE;
            } else {
                return WAIT_CLOSE;
            }
        }
        c->off = c->len = 0;
        ssize_t n = read(fd, c->buf, CONN_BUF_SIZE);
        if (n > 0) {
            c->len = (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return WAIT_READ;
        } else {
            /* EOF or error. Everything read was already handed to the kernel,
             * which still sends it before the FIN. */
            return WAIT_CLOSE;
        }
    }
}

struct peer_args {
    const char *host;
    int port;
};

static void usage(const char *prog, const char *extra)
{
    fprintf(stderr, "usage: %s [--host 127.0.0.1] [--port P]%s\n", prog, extra);
    exit(2);
}

/* Accepts the shared flags; returns the index of the first argument it did not
 * recognise (argc when all were). */
static int parse_common_arg(int argc, char **argv, int i, struct peer_args *a, const char *extra)
{
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
        a->host = argv[i + 1];
        return i + 2;
    }
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
        char *end;
        long p = strtol(argv[i + 1], &end, 10);
        if (*end || p < 0 || p > 65535)
            usage(argv[0], extra);
        a->port = (int)p;
        return i + 2;
    }
    return -1;
}

/* A benchmark peer has no business being reachable from the network. */
static int listen_loopback(const struct peer_args *a)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    const char *host = strcmp(a->host, "localhost") == 0 ? "127.0.0.1" : a->host;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
            goto not_loopback;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)a->port);
        sl = sizeof *sin;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
            goto not_loopback;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)a->port);
        sl = sizeof *sin6;
    } else {
        goto not_loopback;
    }

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        die("bind");
    if (listen(fd, LISTEN_BACKLOG) < 0)
        die("listen");
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        die("getsockname");
    int port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
    /* Brackets for IPv6 as Go's net.JoinHostPort writes them, so a client can
     * split at the last colon either way. */
    if (ss.ss_family == AF_INET6)
        printf("listening on [%s]:%d\n", host, port);
    else
        printf("listening on %s:%d\n", host, port);
    /* The orchestrator waits for this line through a pipe. */
    fflush(stdout);
    return fd;

not_loopback:
    fprintf(stderr, "refusing to listen on %s: not a loopback address\n", a->host);
    exit(2);
}

/* Go raises RLIMIT_NOFILE to the hard limit at start (since 1.19); do the same
 * so 500+ connections compare like for like. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* SIGTERM/SIGINT become a readable fd the event loop watches, so shutdown is
 * just another event and no handler runs between syscalls. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die("sigprocmask");
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        die("signalfd");
    /* A peer that vanished mid-write must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    return fd;
}

/* Returns a connected nonblocking socket, -1 when the backlog is empty. */
static inline int accept_one(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* Go sets TCP_NODELAY on every accepted socket; small echoes must
             * not wait for Nagle. */
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED: /* the client gave up while queued */
        case EPROTO:
        case EPERM: /* firewall; Linux reports it on the new socket */
            continue;
        case EAGAIN:
            return -1;
        default: {
            /* EMFILE and friends. The connection stays queued and is retried
             * on the listener's next readiness; raise_nofile() makes this a
             * misconfiguration, so say so once rather than spin. */
            static int warned;
            if (!warned++)
                fprintf(stderr, "accept4: %s\n", strerror(errno));
            return -1;
        }
        }
    }
}

#endif
