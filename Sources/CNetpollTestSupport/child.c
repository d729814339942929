// A Unix-socket client in a child process under another uid, for the peer
// credential and socket-mode tests. The child is forked from a multi-threaded
// process, so it makes raw system calls only (no allocation, no locks) until _exit.
#define _GNU_SOURCE
#include "cnetpoll_test_support.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int cnp_test_spawn_unix_client(const void *addr, unsigned addr_len, unsigned uid, unsigned gid) {
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;
    // Child: the forking thread's blocked signals are inherited; a test must be
    // able to end it.
    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(long));
    // Drop groups, then gid, then uid (the order that still has the rights).
    if (syscall(SYS_setgroups, 0, NULL) != 0) _exit(100);
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) _exit(101);
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(102);
    int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) _exit(103);
    if (syscall(SYS_connect, s, addr, addr_len) != 0) _exit(errno & 0x7f);
    char b = 'x';
    if (syscall(SYS_write, s, &b, 1) != 1) _exit(104);
    // Stay connected until the parent closes its end.
    while (syscall(SYS_read, s, &b, 1) > 0) {}
    _exit(0);
}

int cnp_test_child_exit_status(int pid, int nohang) {
    int status = 0;
    pid_t r = waitpid(pid, &status, nohang ? WNOHANG : 0);
    if (r < 0) return -errno;
    if (r == 0) return -EAGAIN;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 1000 + WTERMSIG(status);
}
