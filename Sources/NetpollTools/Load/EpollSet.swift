import CLoadSys
import Glibc

/// The epoll set of one load worker: each socket registered once, edge-triggered,
/// in both directions, with a token; a wait hands back the tokens of the sockets
/// that became ready. The calls, their flags and `struct epoll_event` are in
/// CLoadSys, the load client's own C (not the library's shim: the client may not
/// share what it measures).
struct EpollSet: ~Copyable {
    let fd: Int32
    /// The tokens of the last wait's events.
    private let tokens: UnsafeMutablePointer<UInt64>
    private let capacity: Int32

    init(capacity: Int32 = CLOAD_EPOLL_MAX_EVENTS) throws(LoadError) {
        let result = cload_epoll_create()
        if result < 0 { throw .system("epoll_create1: \(errnoText(-result))") }
        fd = result
        self.capacity = min(capacity, CLOAD_EPOLL_MAX_EVENTS)
        tokens = .allocate(capacity: Int(self.capacity))
    }

    deinit {
        close(fd)
        tokens.deallocate()
    }

    /// Edge-triggered, both directions, registered once per socket: the worker
    /// always runs reads and writes until EAGAIN, so one report per change is enough.
    func add(_ socket: Int32, token: UInt64) -> Bool {
        cload_epoll_add(fd, socket, token) == 0
    }

    /// Waits up to `timeoutNanos` (nanosecond precision via epoll_pwait2 where the
    /// kernel has it, else rounded up to milliseconds); returns the number of events.
    func wait(timeoutNanos: UInt64, precise: inout Bool) -> Int {
        if precise {
            let result = cload_epoll_pwait2(fd, tokens, capacity, Int64(clamping: timeoutNanos))
            if result >= 0 { return Int(result) }
            if result != -ENOSYS { return 0 }  // EINTR: the caller re-checks its clock anyway
            precise = false
        }
        let millis = Int32(min((timeoutNanos + 999_999) / 1_000_000, 1000))
        let result = cload_epoll_wait(fd, tokens, capacity, millis)
        return result < 0 ? 0 : Int(result)
    }

    /// The token of event `index` of the last wait.
    @inline(__always)
    func token(at index: Int) -> UInt64 {
        tokens[index]
    }
}
