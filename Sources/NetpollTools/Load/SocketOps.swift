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
