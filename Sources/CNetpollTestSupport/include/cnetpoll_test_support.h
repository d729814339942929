// CNetpollTestSupport: C calls only the tests make. Not part of the library (no
// product names this target), so nothing here ships to users. Like CNetpoll,
// every function that can fail returns `-errno`. Linked into the test executable,
// census.c also stands in front of malloc and a few Swift runtime entry points for
// the whole test process (they only count, on threads that ask, and forward).
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

// MARK: census (census.c) --------------------------------------------------------

/// What the census has counted so far, on the threads counting (see
/// `cnp_census_count_this_thread`), since the process started.
typedef struct {
    /// malloc, calloc, realloc, memalign, posix_memalign, aligned_alloc calls.
    unsigned long long mallocs;
    /// swift_retain and swift_retain_n calls from code in the test executable and
    /// from the concurrency runtime.
    unsigned long long retains;
    /// swift_task_alloc calls from code in the test executable.
    unsigned long long frames;
    /// swift_beginAccess calls (dynamic exclusivity checks) from code in the test
    /// executable.
    unsigned long long accesses;
    /// swift_task_switch calls (an executor check at a hop point: a switch when the
    /// executor differs) from code in the test executable.
    unsigned long long switches;
} cnp_census_counts;

/// NULL when the census can count, else why not (a sanitizer build; a runtime
/// without one of the functions it forwards to).
const char *cnp_census_check(void);
/// Counts (nonzero) or stops counting (0) what the calling thread does.
void cnp_census_count_this_thread(int on);
cnp_census_counts cnp_census_read(void);
/// Does nothing with `p`, in a way the optimizer cannot see through (so an
/// allocation made to be counted is not optimized away).
void cnp_census_keep(void *p);

#ifdef __cplusplus
}
#endif
