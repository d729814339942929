import CNetpoll
import Synchronization

extension Mutex {
    /// `withLock`, with the lock's ordering made visible to ThreadSanitizer.
    ///
    /// Synchronization's Mutex locks inside the standard library, which is not built
    /// with TSan, so TSan would report every access it protects as a race. The
    /// annotations are keyed by the Mutex's own address (it is stored inline in its
    /// owner and never moves), taken before the protected value is touched, and
    /// compile to empty calls outside TSan builds.
    @inline(__always)
    borrowing func locked<R>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R {
        let key = withUnsafePointer(to: self) { UnsafeMutableRawPointer(mutating: $0) }
        return try withLock { (value: inout sending Value) throws -> sending R in
            cnp_tsan_acquire(key)
            defer { cnp_tsan_release(key) }
            return try body(&value)
        }
    }
}


// MARK: continuation hand-overs

// A continuation resumed from a loop thread into a task on another executor: the
// concurrency runtime's enqueue path (libdispatch for the global executor) is not
// TSan-instrumented here, so without these TSan misses the edge and reports what
// the resumer wrote before resuming as racing with what the task reads after. The
// key is the task itself (an UnsafeContinuation is a pointer to its task; see
// docs/runtime-tricks.md#tsan-only-lookup).

extension UnsafeContinuation {
    /// Marks everything written so far as visible to the task this resumes.
    @inline(__always)
    func releaseToTask() {
        cnp_tsan_release(unsafeBitCast(self, to: UnsafeMutableRawPointer.self))
    }
}

/// Called by a task right after it resumed: pairs with `releaseToTask`. Outside
/// TSan builds it does nothing: the task lookup alone costs a retain and a release
/// on every park (see docs/performance-log.md, docs/runtime-tricks.md#tsan-only-lookup).
@inline(__always)
func acquireFromResumer() {
    guard cnp_tsan_enabled else { return }
    withUnsafeCurrentTask { task in
        if let task { cnp_tsan_acquire(unsafeBitCast(task, to: UnsafeMutableRawPointer.self)) }
    }
}
