#if canImport(Glibc)
import Glibc
#endif

// The one way a system call's failure becomes a NetpollError (in the spirit of
// swift-system's `valueOrErrno(retryOnInterrupt:)`): libc calls report -1 and
// errno, the C shim's `cnp_*` calls and liburing return -errno. The helpers take
// the call's name as an autoclosure, so building "setsockopt(SO_KEEPALIVE)" costs
// nothing unless the call failed. No other file builds `.system` errors: an errno
// the code already holds (SO_ERROR, a pthread result, a rule the kernel would
// enforce) goes through ``NetpollError/failed(_:errno:)``, so this file is the one
// place to look for (or inject) system-call failures.

extension NetpollError {
    /// Runs a libc call that returns -1 and sets errno on failure; EINTR runs it
    /// again when `retryOnInterrupt` (the default). Returns the non-negative result.
    @inline(__always)
    @discardableResult
    static func check<R: FixedWidthInteger & SignedInteger>(
        _ name: @autoclosure () -> String, retryOnInterrupt: Bool = true, _ call: () -> R
    ) throws(NetpollError) -> R {
        while true {
            #if FaultInjection
            // An EINTR the call never ran for: retried here, unseen by the caller.
            if retryOnInterrupt && FaultInjection.inject(.call) != nil { continue }
            #endif
            let r = call()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR && retryOnInterrupt { continue }
            throw .system(name(), e)
        }
    }

    /// Checks a result in the -errno convention (liburing, the `cnp_*` shim):
    /// negative results whose errno `tolerated` accepts are returned, others throw.
    /// A predicate, not a set: these calls sit on the poll path, where a set literal
    /// at the call site would allocate on every call (it once did).
    @inline(__always)
    @discardableResult
    static func checkNegated(
        _ name: @autoclosure () -> String, _ result: Int32, tolerating tolerated: (Int32) -> Bool = { _ in false }
    ) throws(NetpollError) -> Int32 {
        if result >= 0 || tolerated(-result) { return result }
        throw .system(name(), -result)
    }

    /// Go's errno ladder for one non-blocking try (internal/poll, fd_unix.go), in one
    /// place for every FD loop: the call's result; nil for EAGAIN, when the caller
    /// waits (the retry loop), hands the socket to a RECV (completion mode) or goes
    /// its async way (the at-once tries); EINTR, or `alsoRetry`, runs the call again
    /// at once; any other errno throws. `call` answers -errno on failure: the `cnp_*`
    /// shim's convention, and libc's through ``minusErrno(_:)``.
    @inline(__always)
    static func attempt<R: FixedWidthInteger & SignedInteger>(
        _ name: @autoclosure () -> String, alsoRetry: Int32 = EINTR, _ call: () -> R
    ) throws(NetpollError) -> R? {
        while true {
            let r = call()
            if r >= 0 { return r }
            let e = Int32(truncatingIfNeeded: -r)
            if e == EINTR || e == alsoRetry { continue }
            if e == EAGAIN { return nil }
            throw .system(name(), e)
        }
    }

    /// A libc call's result in the -errno convention: `r`, or -errno when it failed.
    /// Read errno at once: it is the calling thread's, and the next call may change it.
    @inline(__always)
    static func minusErrno<R: FixedWidthInteger & SignedInteger>(_ r: R) -> R {
        r < 0 ? R(-Glibc.errno) : r
    }

    /// The error for an errno the caller already holds (not a call's -1 or -errno).
    @inline(__always)
    static func failed(_ name: String, errno e: Int32) -> NetpollError {
        .system(name, e)
    }

    /// A write of a non-empty buffer moved no byte: the peer can take no more.
    @inline(__always)
    static func wroteNothing(_ name: String) -> NetpollError {
        .system(name, EPIPE)
    }
}
