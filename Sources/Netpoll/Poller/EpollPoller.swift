import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Edge-triggered epoll, registered once per descriptor, as Go's netpoll_epoll.go.
///
/// - Registration: `EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`, `data.u64` = token.
/// - Wake: a `WakeChannel` eventfd, watched level-triggered.
/// - Timeouts: nanoseconds through `epoll_pwait2` when the kernel has it (5.11+),
///   else milliseconds rounded up, so a timer never fires early.
public final class EpollPoller: Poller, @unchecked Sendable {
    // Immutable after init.
    private let epfd: Int32
    private let waker: WakeChannel
    private let capacity: Int32
    // Owner thread only.
    private let events: UnsafeMutablePointer<epoll_event>
    private var hasPwait2 = true
    private var closed = false
    public private(set) var counters = PollerCounters()

    public struct Options: Sendable, Hashable {
        /// Events taken per kernel call (Go uses 128).
        public var eventCapacity: Int
        public init(eventCapacity: Int = 256) { self.eventCapacity = eventCapacity }
    }

    public init(options: Options = Options()) throws(NetpollError) {
        let eventCapacity = options.eventCapacity
        let ep = try NetpollError.check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        let w: WakeChannel
        do { w = try WakeChannel() } catch {
            Glibc.close(ep)
            throw error
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = PollToken.reservedWake
        do {
            try NetpollError.check("epoll_ctl(ADD eventfd)") { epoll_ctl(ep, EPOLL_CTL_ADD, w.fd, &ev) }
        } catch {
            w.close()
            Glibc.close(ep)
            throw error
        }
        epfd = ep
        waker = w
        capacity = Int32(max(1, eventCapacity))
        events = .allocate(capacity: Int(capacity))
    }

    deinit {
        close()
        events.deallocate()
    }

    public func register(fd: Int32, token: PollToken) throws(NetpollError) {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        ev.data.u64 = token.rawValue
        counters.syscalls &+= 1
        try NetpollError.check("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) }
    }

    public func deregister(fd: Int32, token: PollToken) throws(NetpollError) {
        // Kernels before 2.6.9 wanted a non-nil event even for DEL.
        var ev = epoll_event()
        counters.syscalls &+= 1
        try NetpollError.check("epoll_ctl(DEL)") { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev) }
    }

    /// Edge-triggered: registration watches both directions for good.
    public func arm(token: PollToken, events: PollEvents) throws(NetpollError) {}
    public var armsOnDemand: Bool { false }

    public func poll(timeout: Duration?, _ body: (PollToken, PollEvents) -> Void) throws(NetpollError) -> Int {
        let n = try wait(timeout: timeout)
        var delivered = 0
        for i in 0..<Int(n) {
            let ev = events[i]
            let data = ev.data.u64
            if data == PollToken.reservedWake {
                waker.consume()
                counters.syscalls &+= 1
                continue
            }
            body(PollToken(data), PollEvents(kernelMask: ev.events))
            delivered += 1
        }
        return delivered
    }

    private func wait(timeout: Duration?) throws(NetpollError) -> Int32 {
        counters.syscalls &+= 1
        if hasPwait2 {
            let ns: Int64 = timeout.map { $0.saturatingNanoseconds } ?? -1
            // EINTR: report nothing, the loop polls again; ENOSYS: a kernel before 5.11.
            let rc = try NetpollError.checkNegated(
                "epoll_pwait2", cnp_epoll_pwait2(epfd, events, capacity, ns)) { $0 == EINTR || $0 == ENOSYS }
            if rc >= 0 { return rc }
            if rc == -EINTR { return 0 }
            hasPwait2 = false
        }
        let ms: Int32
        if let t = timeout {
            let ns = t.saturatingNanoseconds
            // Round up: a deadline must not fire early (Go rounds the same way).
            ms = ns == 0 ? 0 : Int32(clamping: (ns + 999_999) / 1_000_000)
        } else {
            ms = -1
        }
        // An interrupted wait reports nothing; the loop polls again.
        return try NetpollError.check("epoll_wait", retryOnInterrupt: false) {
            let rc = epoll_wait(epfd, events, capacity, ms)
            return rc < 0 && errno == EINTR ? 0 : rc
        }
    }

    public func wake() { waker.wake() }

    public func close() {
        guard !closed else { return }
        closed = true
        waker.close()
        Glibc.close(epfd)
    }

    public var features: PollerFeatures {
        PollerFeatures(backend: "epoll", details: [
            ("trigger", "edge"),
            ("timeouts", hasPwait2 ? "epoll_pwait2 (ns)" : "epoll_wait (ms)"),
        ])
    }
}
