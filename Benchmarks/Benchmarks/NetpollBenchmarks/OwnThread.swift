// A raw poller's life on a thread of its own, so that what the kernel leaves on the
// thread that created an io_uring ring does not land on package-benchmark's runner.
//
// Closing a ring with requests still in flight (likely the wake channel's poll)
// makes the kernel finish them as task work for the thread that submitted them,
// announced by a "fake signal" (TIF_NOTIFY_SIGNAL) that interrupts a blocking
// system call of that thread. When that thread is the runner's, the call is
// the runner's write of the results to BenchmarkTool, which blocks because the
// results (one 1-second HDR histogram per metric, about 43 KB each) exceed the pipe's
// 64 KB: the write comes back short and package-benchmark 1.38 stops with
// "Fatal error: count != written 175450 ---- 64858" (seen with `poll(.zero) empty`
// on every io_uring mode, never with epoll). A thread that exits takes that
// notification with it.

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new thread and returns when it has finished. Starting and
/// joining the thread happen outside `body`, so outside any measurement it brackets.
/// If no thread can be started (EAGAIN), `body` runs here instead.
func onOwnThread(_ body: @escaping () -> Void) {
    final class Work: @unchecked Sendable {  // handed over once, then joined
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    let work = Unmanaged.passRetained(Work(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { arg in
            Unmanaged<Work>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, work)
    if rc == 0 {
        pthread_join(thread, nil)
    } else {
        Unmanaged<Work>.fromOpaque(work).takeRetainedValue().body()
    }
}
