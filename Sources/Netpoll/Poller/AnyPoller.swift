/// The EventLoop's poller: an enum over the backends ``Backend`` can make, so the
/// calls an event, a message or a connection makes are direct (and specialised)
/// rather than through an existential. Every operation is the ``Poller`` contract's;
/// the rare ones go through ``contract``.
enum AnyPoller {
    case epoll(EpollPoller)
    case uring(URingPoller)

    init(_ backend: Backend) throws(NetpollError) {
        switch backend.kind {
        case .epoll: self = .epoll(try EpollPoller(options: backend.epoll))
        case .uring: self = .uring(try URingPoller(options: backend.uring))
        }
    }

    /// The poller as the contract, for calls off the per-event path.
    var contract: any Poller {
        switch self {
        case .epoll(let p): return p
        case .uring(let p): return p
        }
    }

    @inline(__always)
    func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        switch self {
        case .epoll(let p): return try p.poll(timeout: timeout, body)
        case .uring(let p): return try p.poll(timeout: timeout, body, received: received)
        }
    }

    func register(fd: Int32, token: PollToken, role: DescriptorRole) throws(NetpollError) -> Bool {
        switch self {
        case .epoll(let p): return try p.register(fd: fd, token: token, role: role)
        case .uring(let p): return try p.register(fd: fd, token: token, role: role)
        }
    }

    func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void) {
        switch self {
        case .epoll(let p): p.closeDescriptor(fd: fd, token: token, onClosed: onClosed)
        case .uring(let p): p.closeDescriptor(fd: fd, token: token, onClosed: onClosed)
        }
    }

    @inline(__always)
    func arm(token: PollToken, events: PollEvents) throws(NetpollError) {
        switch self {
        case .epoll: return
        case .uring(let p): try p.arm(token: token, events: events)
        }
    }

    func armReceive(token: PollToken) throws(NetpollError) -> ReceiveArm {
        switch self {
        case .epoll(let p): return try p.armReceive(token: token)
        case .uring(let p): return try p.armReceive(token: token)
        }
    }

    @inline(__always)
    func recycle(buffer: UInt16) {
        switch self {
        case .epoll: return
        case .uring(let p): p.recycle(buffer: buffer)
        }
    }

    /// Any thread (a job sent to a sleeping loop).
    func wake() {
        switch self {
        case .epoll(let p): p.wake()
        case .uring(let p): p.wake()
        }
    }

    /// Tests: a poll completion the kernel posts only by chance, posted through the
    /// ring (URingPoller.postPollCompletion). False without a ring.
    func postPollCompletion(token: PollToken, mask: UInt32) throws(NetpollError) -> Bool {
        guard case .uring(let p) = self else { return false }
        try p.postPollCompletion(token: token, mask: mask)
        return true
    }
}
