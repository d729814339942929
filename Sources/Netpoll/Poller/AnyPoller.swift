/// The EventLoop's poller: an enum over the concrete backends, so calls on the hot
/// path are direct (and specialised) rather than through an existential. A poller
/// of another type (a program's own ``Poller``) still works, through the existential.
enum AnyPoller {
    case epoll(EpollPoller)
    case uring(URingPoller)
    case other(any Poller)

    init(_ poller: any Poller) {
        if let p = poller as? EpollPoller {
            self = .epoll(p)
        } else if let p = poller as? URingPoller {
            self = .uring(p)
        } else {
            self = .other(poller)
        }
    }

    @inline(__always)
    func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        switch self {
        case .epoll(let p): return try p.poll(timeout: timeout, body)
        case .uring(let p): return try p.poll(timeout: timeout, body, received: received)
        case .other(let p): return try p.poll(timeout: timeout, body)
        }
    }

    /// Registers `fd`; `connection` (a connected or connecting stream socket) is read
    /// through the ring when the poller is in io_uring completion mode. Returns
    /// whether it is.
    func register(fd: Int32, token: PollToken, connection: Bool) throws(NetpollError) -> Bool {
        switch self {
        case .epoll(let p):
            try p.register(fd: fd, token: token)
            return false
        case .uring(let p):
            let receiving = connection && p.completion
            try p.register(fd: fd, token: token, receiving: receiving)
            return receiving
        case .other(let p):
            try p.register(fd: fd, token: token)
            return false
        }
    }

    /// Whether ``closeDescriptor(fd:token:onClosed:)`` closes through the ring (no
    /// system call of its own); otherwise it calls close(2), which the caller counts.
    var closesThroughRing: Bool {
        if case .uring = self { return true }
        return false
    }

    func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void) {
        switch self {
        case .epoll(let p): p.closeDescriptor(fd: fd, token: token, onClosed: onClosed)
        case .uring(let p): p.closeDescriptor(fd: fd, token: token, onClosed: onClosed)
        case .other(let p): p.closeDescriptor(fd: fd, token: token, onClosed: onClosed)
        }
    }

    func deregister(fd: Int32, token: PollToken) throws(NetpollError) {
        switch self {
        case .epoll(let p): try p.deregister(fd: fd, token: token)
        case .uring(let p): try p.deregister(fd: fd, token: token)
        case .other(let p): try p.deregister(fd: fd, token: token)
        }
    }

    @inline(__always)
    func arm(token: PollToken, events: PollEvents) throws(NetpollError) {
        switch self {
        case .epoll: return
        case .uring(let p): try p.arm(token: token, events: events)
        case .other(let p): try p.arm(token: token, events: events)
        }
    }

    var armsOnDemand: Bool {
        switch self {
        case .epoll(let p): return p.armsOnDemand
        case .uring(let p): return p.armsOnDemand
        case .other(let p): return p.armsOnDemand
        }
    }

    func wake() {
        switch self {
        case .epoll(let p): p.wake()
        case .uring(let p): p.wake()
        case .other(let p): p.wake()
        }
    }

    func close() {
        switch self {
        case .epoll(let p): p.close()
        case .uring(let p): p.close()
        case .other(let p): p.close()
        }
    }

    var counters: PollerCounters {
        switch self {
        case .epoll(let p): return p.counters
        case .uring(let p): return p.counters
        case .other(let p): return p.counters
        }
    }

    var features: PollerFeatures {
        switch self {
        case .epoll(let p): return p.features
        case .uring(let p): return p.features
        case .other(let p): return p.features
        }
    }
}
