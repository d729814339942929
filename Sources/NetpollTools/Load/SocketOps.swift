import Glibc

/// The raw socket calls the load client makes, in one place. The client uses
/// its own code on purpose: it must not share anything with the library it measures.
enum SocketOps {
    /// Outcome of starting a nonblocking connect.
    enum ConnectStart {
        case connected(Int32)
        case inProgress(Int32)
        case failed(Int32)  // errno
    }

    /// A nonblocking, close-on-exec stream socket with TCP_NODELAY (TCP only),
    /// and a connect already started.
    static func startConnect(to endpoint: Endpoint) -> ConnectStart {
        let fd = socket(endpoint.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return .failed(errno) }
        if endpoint.kind == .tcp {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var result: Int32
        repeat {
            result = endpoint.withSockAddr { connect(fd, $0, $1) }
        } while result < 0 && errno == EINTR
        if result == 0 { return .connected(fd) }
        let code = errno
        // A unix socket whose backlog is full answers EAGAIN; treat it like a pending TCP connect
        // would be wrong (it never completes), so only EINPROGRESS is "in progress".
        if code == EINPROGRESS { return .inProgress(fd) }
        close(fd)
        return .failed(code)
    }

    /// The result of a finished nonblocking connect: 0 or the errno it failed with,
    /// or EINPROGRESS if it has not finished yet (a spurious wakeup).
    static func connectResult(_ fd: Int32) -> Int32 {
        var pending: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) < 0 { return errno }
        if pending != 0 { return pending }
        // SO_ERROR is 0 both when connected and while still connecting: ask the peer name.
        var address = sockaddr_storage()
        var addressLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connected = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &addressLength) }
        }
        return connected == 0 ? 0 : EINPROGRESS
    }

    /// Blocking-style probe with a timeout, used once before a run so that an
    /// unreachable target is one clear error instead of a run full of failures.
    static func probe(_ endpoint: Endpoint, timeoutNanos: UInt64) -> Int32 {
        let fd: Int32
        switch startConnect(to: endpoint) {
        case .connected(let connected):
            close(connected)
            return 0
        case .failed(let code):
            return code
        case .inProgress(let pending):
            fd = pending
        }
        defer { close(fd) }
        let deadline = monotonicNanos() + timeoutNanos
        while true {
            let now = monotonicNanos()
            if now >= deadline { return ETIMEDOUT }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let waitMillis = Int32(min((deadline - now) / 1_000_000 + 1, 1000))
            if poll(&pfd, 1, waitMillis) > 0 {
                let result = connectResult(fd)
                if result != EINPROGRESS { return result }
            }
        }
    }
}

/// The epoll calls of one load worker.
///
/// Swift's Glibc module does not import <sys/epoll.h>, and this target must not
/// borrow the library's C shim (the client may not share what it measures), so
/// the three calls are bound by symbol name. Their arguments are plain integers
/// and pointers, passed identically by the Swift and C conventions on Linux.
/// `struct epoll_event` is packed on x86-64 (12 bytes) and 16 bytes elsewhere,
/// so events live in a raw buffer read with unaligned loads.
struct EpollSet: ~Copyable {
    let fd: Int32
    let events: UnsafeMutableRawPointer
    let capacity: Int32

    static let eventIn: UInt32 = 0x001
    static let eventOut: UInt32 = 0x004
    static let eventRdHup: UInt32 = 0x2000
    static let edgeTriggered: UInt32 = 1 << 31
    private static let ctlAdd: Int32 = 1
    private static let cloexec: Int32 = 0o2000000
    #if arch(x86_64)
    static let eventStride = 12
    static let dataOffset = 4
    #else
    static let eventStride = 16
    static let dataOffset = 8
    #endif

    init(capacity: Int32 = 256) throws(LoadError) {
        fd = netpoll_load_epoll_create1(Self.cloexec)
        if fd < 0 { throw .system("epoll_create1: \(errnoText(errno))") }
        self.capacity = capacity
        events = .allocate(byteCount: Self.eventStride * Int(capacity), alignment: 16)
    }

    deinit {
        close(fd)
        events.deallocate()
    }

    /// Edge-triggered, both directions, registered once per socket: the worker
    /// always runs reads and writes until EAGAIN, so one report per change is enough.
    func add(_ socket: Int32, token: UInt64) -> Bool {
        var event = (UInt64(0), UInt64(0))  // 16 bytes, enough for either layout
        withUnsafeMutableBytes(of: &event) { raw in
            raw.storeBytes(of: Self.eventIn | Self.eventOut | Self.eventRdHup | Self.edgeTriggered, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: token, toByteOffset: Self.dataOffset, as: UInt64.self)
        }
        return withUnsafeMutableBytes(of: &event) { raw in
            netpoll_load_epoll_ctl(fd, Self.ctlAdd, socket, raw.baseAddress!)
        } == 0
    }

    /// Waits up to `timeoutNanos` (nanosecond precision via epoll_pwait2 where the
    /// kernel has it, else rounded up to milliseconds); returns the number of events.
    func wait(timeoutNanos: UInt64, precise: inout Bool) -> Int {
        if precise {
            var timeout = timespec(tv_sec: Int(timeoutNanos / 1_000_000_000), tv_nsec: Int(timeoutNanos % 1_000_000_000))
            let result = netpoll_load_epoll_pwait2(fd, events, capacity, &timeout, nil)
            if result >= 0 { return Int(result) }
            if errno != ENOSYS { return 0 }  // EINTR: the caller re-checks its clock anyway
            precise = false
        }
        let millis = Int32(min((timeoutNanos + 999_999) / 1_000_000, 1000))
        let result = netpoll_load_epoll_wait(fd, events, capacity, millis)
        return result < 0 ? 0 : Int(result)
    }

    /// The token of event `index` of the last wait.
    @inline(__always)
    func token(at index: Int) -> UInt64 {
        events.loadUnaligned(fromByteOffset: index * Self.eventStride + Self.dataOffset, as: UInt64.self)
    }
}

@_silgen_name("epoll_create1")
private func netpoll_load_epoll_create1(_ flags: Int32) -> Int32

@_silgen_name("epoll_ctl")
private func netpoll_load_epoll_ctl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ event: UnsafeMutableRawPointer) -> Int32

@_silgen_name("epoll_wait")
private func netpoll_load_epoll_wait(_ epfd: Int32, _ events: UnsafeMutableRawPointer, _ maxEvents: Int32, _ timeout: Int32) -> Int32

@_silgen_name("epoll_pwait2")
private func netpoll_load_epoll_pwait2(
    _ epfd: Int32, _ events: UnsafeMutableRawPointer, _ maxEvents: Int32,
    _ timeout: UnsafePointer<timespec>, _ sigmask: UnsafeRawPointer?) -> Int32
