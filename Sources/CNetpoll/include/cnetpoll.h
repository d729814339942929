// CNetpoll: the C calls Swift cannot make directly.
//
// liburing's API is mostly `static inline` in liburing.h, and liburing.h cannot be
// imported into Swift (its system headers clash with Glibc's module). So this header
// exposes only plain C functions and types of its own; `struct io_uring` stays
// opaque behind `cnp_ring`. Every function that can fail returns `-errno`
// (liburing's convention), never sets errno behind Swift's back.
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>   // not part of the Glibc Swift module

#ifdef __cplusplus
extern "C" {
#endif

// MARK: io_uring ---------------------------------------------------------------

typedef struct cnp_ring cnp_ring;

/// One completion, copied out of the CQ ring so Swift never touches ring memory.
typedef struct cnp_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
} cnp_cqe;

// Setup flags and feature bits, re-exported so Swift needs no kernel header.
extern const uint32_t CNP_SETUP_SINGLE_ISSUER;
extern const uint32_t CNP_SETUP_DEFER_TASKRUN;
extern const uint32_t CNP_SETUP_COOP_TASKRUN;
extern const uint32_t CNP_SETUP_TASKRUN_FLAG;
extern const uint32_t CNP_SETUP_SUBMIT_ALL;
extern const uint32_t CNP_FEAT_NODROP;
extern const uint32_t CNP_FEAT_EXT_ARG;
extern const uint32_t CNP_CQE_F_MORE;

/// Creates a ring with `entries` SQEs and exactly `flags`. Returns 0 or -errno
/// (-EINVAL: a flag this kernel does not know; -EPERM/-ENOSYS: io_uring forbidden).
int cnp_ring_create(unsigned entries, uint32_t flags, cnp_ring **out);
void cnp_ring_destroy(cnp_ring *ring);
uint32_t cnp_ring_features(const cnp_ring *ring);
unsigned cnp_ring_sq_entries(const cnp_ring *ring);
unsigned cnp_ring_cq_entries(const cnp_ring *ring);

// Every prep below that names a descriptor takes `fd` and `fixed`: with `fixed`,
// `fd` is a slot of the ring's registered file table (cnp_ring_register_files_sparse)
// and the SQE carries IOSQE_FIXED_FILE, so the kernel skips the fget/fput of the
// descriptor table.

/// Queues a POLL_ADD (multishot when asked). False when the SQ is full: submit first.
bool cnp_ring_prep_poll_add(cnp_ring *ring, int fd, bool fixed, uint32_t poll_mask, uint64_t user_data, bool multishot);
/// Queues an ASYNC_CANCEL of the request whose user_data is `target`. False when the SQ is full.
bool cnp_ring_prep_cancel(cnp_ring *ring, uint64_t target, uint64_t user_data);
/// Queues a multishot IORING_OP_RECV on `fd` that picks its buffers from the
/// ring's provided-buffer ring (see cnp_ring_setup_buffers). False when the SQ is full.
bool cnp_ring_prep_recv_multishot(cnp_ring *ring, int fd, bool fixed, uint64_t user_data);
/// Queues a multishot IORING_OP_ACCEPT on the listening socket `fd` (Linux 5.19+):
/// each accepted connection is a CQE whose res is the new descriptor (non-blocking,
/// close-on-exec), with IORING_CQE_F_MORE while the request goes on. No peer
/// address. False when the SQ is full.
bool cnp_ring_prep_accept_multishot(cnp_ring *ring, int fd, bool fixed, uint64_t user_data);
/// Whether this kernel runs a multishot ACCEPT: one on a throwaway ring and
/// listener of its own. 0, -EINVAL (kernel before 5.19) or another -errno.
int cnp_probe_multishot_accept(void);
/// Queues an ASYNC_CANCEL of every request on `fd` (IORING_ASYNC_CANCEL_FD|ALL,
/// Linux 5.19+; a fixed slot with IORING_ASYNC_CANCEL_FD_FIXED, 6.0+). False when
/// the SQ is full.
bool cnp_ring_prep_cancel_fd(cnp_ring *ring, int fd, bool fixed, uint64_t user_data);
/// Queues an IORING_OP_CLOSE of `fd`. False when the SQ is full.
bool cnp_ring_prep_close(cnp_ring *ring, int fd, uint64_t user_data);

// MARK: registered files -------------------------------------------------------

/// Registers an empty ("sparse") file table of `count` slots with the ring
/// (IORING_RSRC_REGISTER_SPARSE, Linux 5.19). 0 or -errno (-EMFILE above
/// RLIMIT_NOFILE, -EINVAL on older kernels).
int cnp_ring_register_files_sparse(cnp_ring *ring, unsigned count);
/// Queues an IORING_OP_FILES_UPDATE that puts `*fd` in table slot `slot` (the
/// kernel takes its own reference to the file). `fd` is read when the kernel
/// issues the SQE, at the next enter: it must stay valid until then. The answer's
/// res is 1, or -errno. False when the SQ is full.
bool cnp_ring_prep_files_update(cnp_ring *ring, int32_t *fd, unsigned slot, uint64_t user_data);
/// Queues an IORING_OP_CLOSE of table slot `slot` (the table's reference to the
/// file goes; a descriptor for the same file stays open). Only a failure is
/// answered (IOSQE_CQE_SKIP_SUCCESS). False when the SQ is full.
bool cnp_ring_prep_close_slot(cnp_ring *ring, unsigned slot, uint64_t user_data);
/// Whether this kernel has what fixed files need here: a sparse table,
/// IORING_OP_FILES_UPDATE and IORING_ASYNC_CANCEL_FD_FIXED (Linux 6.0). 0 or -errno.
int cnp_probe_fixed_files(void);
/// Queues an IORING_OP_MSG_RING to this ring itself: the kernel posts a CQE with
/// `res`, `target_user_data` and `cqe_flags` (IORING_MSG_RING_FLAGS_PASS, Linux 6.3)
/// as if a request had completed; the MSG_RING's own answer carries `user_data`.
/// How tests make the ring deliver a completion the kernel produces only by chance.
/// False when the SQ is full.
bool cnp_ring_prep_post_to_self(cnp_ring *ring, int32_t res, uint64_t target_user_data, uint32_t cqe_flags, uint64_t user_data);
/// SQEs queued but not yet submitted.
unsigned cnp_ring_sq_pending(const cnp_ring *ring);

/// Submits what is queued. With `get_events`, also asks the kernel to run pending
/// task work so completions are posted (needed under DEFER_TASKRUN). Returns the
/// number submitted or -errno. One io_uring_enter at most; none when nothing is
/// queued and `get_events` is false.
int cnp_ring_submit(cnp_ring *ring, bool get_events);
/// Submits what is queued and waits for at least one completion, up to `timeout_ns`
/// (negative: forever). Returns >= 0, -ETIME on timeout, -EINTR, or another -errno.
int cnp_ring_submit_and_wait(cnp_ring *ring, int64_t timeout_ns);
/// Linux 6.12: io_uring_enter takes a minimum wait (IORING_FEAT_MIN_TIMEOUT).
extern const uint32_t CNP_FEAT_MIN_TIMEOUT;
/// cnp_ring_submit_and_wait with batching (Linux 6.12, IORING_FEAT_MIN_TIMEOUT):
/// one io_uring_enter that submits what is queued and sleeps until `wait_nr`
/// completions are there, or `min_wait_usec` has passed and at least one is, or
/// `timeout_ns` (negative: forever) has passed. Returns as cnp_ring_submit_and_wait.
int cnp_ring_submit_and_wait_min(cnp_ring *ring, unsigned wait_nr, uint32_t min_wait_usec, int64_t timeout_ns);
/// True when completions are held back in the kernel: CQ overflowed (with
/// FEAT_NODROP they wait in an overflow list) or, with DEFER_TASKRUN|TASKRUN_FLAG,
/// task work waits for us to enter. A memory read of the SQ flags, no syscall.
bool cnp_ring_needs_enter(const cnp_ring *ring);
/// True while the kernel holds overflowed CQEs (IORING_SQ_CQ_OVERFLOW) — only
/// that, not pending task work. A memory read, no syscall.
bool cnp_ring_cq_overflowed(const cnp_ring *ring);
/// Copies up to `max` ready completions into `out` and consumes them. No syscall.
unsigned cnp_ring_reap(cnp_ring *ring, cnp_cqe *out, unsigned max);

/// Registers the ring's descriptor with itself (io_uring_register_ring_fd) so
/// io_uring_enter skips the fd lookup. 0 or -errno; the ring works either way.
int cnp_ring_register_ring_fd(cnp_ring *ring);

// MARK: provided buffers (completion-mode receives) --------------------------

extern const uint32_t CNP_CQE_F_BUFFER;
extern const uint32_t CNP_CQE_BUFFER_SHIFT;

extern const uint32_t CNP_CQE_F_BUF_MORE;
/// Creates the ring's provided-buffer ring (group 0): `count` buffers of `size`
/// bytes (count a power of two, at most 32768), all handed to the kernel. With
/// `incremental` (IOU_PBUF_RING_INC, Linux 6.12) the kernel consumes a buffer a
/// completion at a time: each completion's bytes follow the last one's in the same
/// buffer, and IORING_CQE_F_BUF_MORE says the buffer is not finished yet.
/// 0 or -errno (-EINVAL on kernels before 5.19, or before 6.12 with `incremental`).
int cnp_ring_setup_buffers(cnp_ring *ring, unsigned count, unsigned size, bool incremental);
/// Whether this kernel takes incremental buffer rings: 0, -EINVAL or another -errno.
int cnp_probe_incremental_buffers(void);
/// Start of buffer `bid`'s memory (NULL when no buffers were set up).
void *cnp_ring_buffer(const cnp_ring *ring, uint16_t bid);
/// Gives buffer `bid` back to the kernel. Owner thread only (the buffer ring's
/// tail is a single-producer index).
void cnp_ring_recycle_buffer(cnp_ring *ring, uint16_t bid);

// MARK: epoll / eventfd / misc --------------------------------------------------

/// epoll_pwait2 through syscall(2): glibc may lack the wrapper. -errno on failure
/// (-ENOSYS on kernels before 5.11). `timeout_ns` negative: forever.
int cnp_epoll_pwait2(int epfd, void *events, int maxevents, int64_t timeout_ns);
/// eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK), or -errno.
int cnp_eventfd(void);
/// Adds 1 to an eventfd counter; 0 or -errno (-EAGAIN when saturated: already awake).
int cnp_eventfd_signal(int fd);
/// Resets an eventfd counter; 0 or -errno (-EAGAIN when already zero).
int cnp_eventfd_drain(int fd);

// MARK: thread identity ---------------------------------------------------------

/// The EventLoop running on this thread (an opaque pointer), or NULL. A `__thread`
/// read: the cheapest way for `enqueue` to know it is on its own loop.
void *cnp_current_loop(void);
void cnp_set_current_loop(void *loop);
// The Swift runtime behind its API (resume.c), called from Swift by RuntimeHooks only
// (docs/runtime-tricks.md).
/// Where the resume hook sends a job: (EventLoop, Job), both opaque.
typedef void (*cnp_divert_fn)(void *loop, void *job);
/// Installs the global-enqueue hook that sends the next job enqueued on this thread
/// to `cnp_set_resume_target`'s loop (resume.c). Once per process; 1 if installed.
int cnp_install_resume_hook(cnp_divert_fn divert);
/// Marks (non-NULL) or clears the loop the next global enqueue on this thread goes to.
void cnp_set_resume_target(void *loop);
/// The task running on this thread (the runtime's AsyncTask pointer), or NULL: an
/// identity to compare, never dereferenced (PollDesc+Cover.swift).
const void *cnp_current_task(void);
/// Whether the running task is cancelled (false outside a task): Task.isCancelled
/// without the retain and release of the task that `withUnsafeCurrentTask` costs.
bool cnp_current_task_is_cancelled(void);
/// CLOCK_MONOTONIC in nanoseconds (the clock deadlines and timers use).
int64_t cnp_nanotime(void);

/// CPUs this process may run on (sched_getaffinity), at least 1.
int cnp_cpu_count(void);
/// Names the calling thread (best effort; 15 bytes kept).
void cnp_set_thread_name(const char *name);

struct sockaddr;
/// accept4(SOCK_NONBLOCK|SOCK_CLOEXEC): glibc declares it only under _GNU_SOURCE.
/// Returns the descriptor or -errno.
int cnp_accept4(int fd, struct sockaddr *addr, unsigned int *len);

// MARK: zero-copy and socket identity (net.c) ------------------------------------

/// The most one splice moves, and the pipe size asked for (Go: maxSpliceSize).
extern const unsigned CNP_MAX_SPLICE;
/// sendfile(2) from `in_fd` at `*offset` (advanced by what was sent). Bytes sent,
/// 0 at the end of the file, or -errno; a gone peer is -EPIPE, never a SIGPIPE.
int64_t cnp_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count);
/// splice(2) with SPLICE_F_MOVE|SPLICE_F_NONBLOCK; one side must be a pipe.
/// Bytes moved, 0 at end of input, or -errno.
int64_t cnp_splice(int in_fd, int out_fd, size_t count);
/// cnp_splice from a pipe out to `out_fd` (a socket), with SIGPIPE held back as
/// for cnp_sendfile: a gone peer is -EPIPE.
int64_t cnp_splice_out(int pipe_fd, int out_fd, size_t count);
/// A non-blocking, close-on-exec pipe for splice, grown to CNP_MAX_SPLICE where
/// allowed. 0 or -errno.
int cnp_splice_pipe(int fds[2]);
/// SO_PEERCRED of a Unix socket: the peer's pid, uid and gid at connect time.
/// 0 or -errno.
int cnp_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

// MARK: plain read / send ----------------------------------------------------------

// glibc's read, write and send are pthread cancellation points: in a threaded
// process each wraps its syscall in __pthread_enable/disable_asynccancel, two
// atomic read-modify-writes of the thread's cancel state per call (as much of an
// echo server's CPU as our own hot-path code: docs/performance-log.md). Swift never
// cancels threads, so the bare syscall does the same; it also returns -errno, the
// kernel's own convention, instead of writing errno's TLS slot. Under
// ThreadSanitizer the libc calls stay, so its fd happens-before model still sees them.
// See docs/runtime-tricks.md#bare-syscalls.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CNP_TSAN 1   // also selects the annotations in sys.c
#endif
#endif
#if defined(CNP_TSAN) || !defined(__x86_64__)
#define CNP_IO_THROUGH_LIBC 1
#endif

#ifdef CNP_IO_THROUGH_LIBC
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
static inline long cnp_read(int fd, void *buf, unsigned long len) {
    long r = read(fd, buf, len);
    return r < 0 ? -errno : r;
}
static inline long cnp_write(int fd, const void *buf, unsigned long len) {
    long r = write(fd, buf, len);
    return r < 0 ? -errno : r;
}
static inline long cnp_send(int fd, const void *buf, unsigned long len, int flags) {
    long r = send(fd, buf, len, flags);
    return r < 0 ? -errno : r;
}
#else
#include <sys/syscall.h>
static inline long cnp_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
/// read(2): bytes read, 0 at end of file, or -errno.
static inline long cnp_read(int fd, void *buf, unsigned long len) {
    return cnp_syscall6(SYS_read, fd, (long)buf, (long)len, 0, 0, 0);
}
/// write(2): bytes written or -errno.
static inline long cnp_write(int fd, const void *buf, unsigned long len) {
    return cnp_syscall6(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
}
/// send(2) (sendto with no address): bytes sent or -errno.
static inline long cnp_send(int fd, const void *buf, unsigned long len, int flags) {
    return cnp_syscall6(SYS_sendto, fd, (long)buf, (long)len, flags, 0, 0);
}
#endif

// MARK: ThreadSanitizer ------------------------------------------------------------

/// Happens-before annotations for ThreadSanitizer (no-ops in other builds).
/// Synchronization.Mutex locks through the standard library, which is not built
/// with TSan, so its ordering is invisible to it: `Mutex.locked` adds these.
void cnp_tsan_acquire(void *addr);
void cnp_tsan_release(void *addr);
/// True in a ThreadSanitizer build: lets Swift skip work done only to feed the
/// annotations (looking up the current task costs a retain and a release).
extern const bool cnp_tsan_enabled;

#ifdef __cplusplus
}
#endif
