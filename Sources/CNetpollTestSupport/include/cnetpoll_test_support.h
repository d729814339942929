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

#ifdef __cplusplus
}
#endif
