// CNetpollTestSupport: C calls only the tests make. Not part of the library (no
// product names this target), so nothing here ships to users. Like CNetpoll,
// every function that can fail returns `-errno`.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/// Installs, on the calling thread only (no TSYNC), a seccomp filter that makes
/// io_uring_setup/enter/register fail with `errno_value` — what Docker's default
/// profile does. Sets PR_SET_NO_NEW_PRIVS first. 0 or -errno. Used by tests to
/// prove backend selection explains a forbidden io_uring.
int cnp_seccomp_deny_io_uring(int errno_value);

/// Forks a child that drops to `uid`/`gid` (no supplementary groups), connects a
/// Unix stream socket to `addr`, writes one byte and stays connected until the
/// parent closes its end, then exits 0. A failed connect exits with its errno;
/// 100-104 mean a step before it failed. Returns the child's pid or -errno.
int cnp_test_spawn_unix_client(const void *addr, unsigned addr_len, unsigned uid, unsigned gid);
/// The child's exit status (0-255), 1000 + signal if killed, -EAGAIN while it runs
/// (with `nohang`), or -errno.
int cnp_test_child_exit_status(int pid, int nohang);

#ifdef __cplusplus
}
#endif
