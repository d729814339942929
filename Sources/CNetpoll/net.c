// Socket and zero-copy calls glibc declares only under _GNU_SOURCE (splice,
// struct ucred) or in headers the Glibc Swift module leaves out (sendfile).
#define _GNU_SOURCE
#include "cnetpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

const unsigned CNP_MAX_SPLICE = 1 << 20;

// sendfile and splice into a socket whose peer has gone raise SIGPIPE (the kernel
// sends them without MSG_NOSIGNAL), which would kill a process that never asked
// for signals. So the call runs with SIGPIPE blocked on this thread, and a SIGPIPE
// it raised is taken back with sigtimedwait before the old mask returns: the caller
// sees EPIPE, as from send(MSG_NOSIGNAL). The signal can come with a *short* count
// as well as with -EPIPE: the call moves some pages, then the next send into the
// socket fails, and the kernel returns what it moved. So any call that did less
// than asked is checked (a zero-timeout sigtimedwait: EAGAIN when none is
// pending). Two sigmask calls per sendfile/splice out to a socket, plus one for a
// short one; each moves up to megabytes.
typedef struct {
    sigset_t pipe;
    sigset_t old;
} cnp_sigpipe_guard;

static void sigpipe_block(cnp_sigpipe_guard *g) {
    sigemptyset(&g->pipe);
    sigaddset(&g->pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &g->pipe, &g->old);
}

static void sigpipe_restore(cnp_sigpipe_guard *g, int may_have_raised) {
    // Only take back what this call raised: a thread that blocked SIGPIPE itself
    // may have one pending of its own.
    if (may_have_raised && !sigismember(&g->old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&g->pipe, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int64_t cnp_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count) {
    cnp_sigpipe_guard g;
    sigpipe_block(&g);
    off_t off = (off_t)*offset;
    ssize_t n = sendfile(out_fd, in_fd, &off, count);
    int e = n < 0 ? errno : 0;
    sigpipe_restore(&g, n < 0 ? e == EPIPE : (size_t)n < count);
    if (n < 0) return -e;
    *offset = (int64_t)off;
    return (int64_t)n;
}

int64_t cnp_splice(int in_fd, int out_fd, size_t count) {
    ssize_t n = splice(in_fd, NULL, out_fd, NULL, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    return n < 0 ? -errno : (int64_t)n;
}

int64_t cnp_splice_out(int pipe_fd, int out_fd, size_t count) {
    cnp_sigpipe_guard g;
    sigpipe_block(&g);
    ssize_t n = splice(pipe_fd, NULL, out_fd, NULL, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    int e = n < 0 ? errno : 0;
    sigpipe_restore(&g, n < 0 ? e == EPIPE : (size_t)n < count);
    return n < 0 ? -e : (int64_t)n;
}

int cnp_splice_pipe(int fds[2]) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -errno;
    // Best effort, as Go's newPipe: a pipe that stays at the default 64 KiB only
    // moves less per round trip (EPERM when over /proc/sys/fs/pipe-max-size).
    (void)fcntl(fds[0], F_SETPIPE_SZ, (int)CNP_MAX_SPLICE);
    return 0;
}

int cnp_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
    *pid = (int32_t)cred.pid;
    *uid = (uint32_t)cred.uid;
    *gid = (uint32_t)cred.gid;
    return 0;
}
