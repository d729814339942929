/// The EventLoop's poller: an enum over the concrete backends, so calls on the hot
/// path are direct (and specialised) rather than through an existential.
enum AnyPoller {
    case epoll(EpollPoller)
    case uring(URingPoller)

    @inline(__always)
    func poll(timeout: Duration?, _ body: (PollToken, PollEvents) -> Void) throws(NetpollError) -> Int {
        switch self {
        case .epoll(let p): return try p.poll(timeout: timeout, body)
        case .uring(let p): return try p.poll(timeout: timeout, body)
        }
    }

    var counters: PollerCounters {
        switch self {
        case .epoll(let p): return p.counters
        case .uring(let p): return p.counters
        }
    }

    var base: any Poller {
        switch self {
        case .epoll(let p): return p
        case .uring(let p): return p
        }
    }

    func register(fd: Int32, token: PollToken) throws(NetpollError) {
        switch self {
        case .epoll(let p): try p.register(fd: fd, token: token)
        case .uring(let p): try p.register(fd: fd, token: token)
        }
    }

    func deregister(fd: Int32, token: PollToken) throws(NetpollError) {
        switch self {
        case .epoll(let p): try p.deregister(fd: fd, token: token)
        case .uring(let p): try p.deregister(fd: fd, token: token)
        }
    }

    func arm(token: PollToken, events: PollEvents) throws(NetpollError) {
        if case .uring(let p) = self { try p.arm(token: token, events: events) }
    }

    var armsOnDemand: Bool {
        if case .uring(let p) = self { return p.armsOnDemand }
        return false
    }

    func wake() {
        switch self {
        case .epoll(let p): p.wake()
        case .uring(let p): p.wake()
        }
    }
}
