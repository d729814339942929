// Socket and zero-copy calls glibc declares only under _GNU_SOURCE (splice,
// struct ucred) or in headers the Glibc Swift module leaves out (sendfile).
#define _GNU_SOURCE
#include "cnetpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

const unsigned CNP_MAX_SPLICE = 1 << 20;

int64_t cnp_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count) {
    off_t off = (off_t)*offset;
    ssize_t n = sendfile(out_fd, in_fd, &off, count);
    if (n < 0) return -errno;
    *offset = (int64_t)off;
    return (int64_t)n;
}

int64_t cnp_splice(int in_fd, int out_fd, size_t count) {
    ssize_t n = splice(in_fd, NULL, out_fd, NULL, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    return n < 0 ? -errno : (int64_t)n;
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
