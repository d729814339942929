#if canImport(Glibc)
import Glibc
#endif

// The one way a system call's failure becomes a NetpollError (in the spirit of
// swift-system's `valueOrErrno(retryOnInterrupt:)`): libc calls report -1 and
// errno, the C shim's `cnp_*` calls and liburing return -errno. Both helpers take
// the call's name as an autoclosure, so building "setsockopt(SO_KEEPALIVE)" costs
// nothing unless the call failed.

extension NetpollError {
    /// Runs a libc call that returns -1 and sets errno on failure; EINTR runs it
    /// again when `retryOnInterrupt` (the default). Returns the non-negative result.
    @inline(__always)
    @discardableResult
    static func check<R: FixedWidthInteger & SignedInteger>(
        _ name: @autoclosure () -> String, retryOnInterrupt: Bool = true, _ call: () -> R
    ) throws(NetpollError) -> R {
        while true {
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
}
