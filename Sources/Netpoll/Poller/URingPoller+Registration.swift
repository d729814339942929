import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Registration: the polls (multishot, one-shot per direction) and the SQEs that
// carry them, queued for the next enter: no system call per descriptor.
extension URingPoller {
    /// The one-shot polls of a descriptor that are in the kernel.
    struct ArmedPolls: OptionSet {
        let rawValue: UInt8
        static let read = ArmedPolls(rawValue: 1 << 0)
        static let write = ArmedPolls(rawValue: 1 << 1)
    }

    // MARK: registration

    public func register(fd: Int32, token: PollToken) throws(NetpollError) {
        try register(fd: fd, token: token, receiving: false)
    }

    /// In completion mode a connection's reads come from the ring, and with
    /// ``Feature/accept`` a listener's connections: both start when their reader
    /// first waits (``armReceive(token:)``).
    public func register(fd: Int32, token: PollToken, role: DescriptorRole) throws(NetpollError) -> Bool {
        switch role {
        case .connection where completion:
            try register(fd: fd, token: token, receiving: true)
            return true
        case .listener where acceptsThroughRing:
            precondition(token.rawValue & Self.opMask == 0, "netpoll: token \(token) uses the uring op bits")
            guard table.insert(token.rawValue, fd: fd, receiving: true, accepting: true) else {
                throw .failed("io_uring ACCEPT (token already registered)", errno: EEXIST)
            }
            try attachSlot(fd: fd, token: token.rawValue)
            return true
        default:
            try register(fd: fd, token: token, receiving: false)
            return false
        }
    }

    /// Registers `fd`. With `receiving` (completion mode only; connected stream
    /// sockets) nothing goes to the kernel yet: the RECV starts when a reader first
    /// waits (``armReceive(token:)``) and the write poll when a writer does.
    public func register(fd: Int32, token: PollToken, receiving: Bool) throws(NetpollError) {
        precondition(token.rawValue & Self.opMask == 0, "netpoll: token \(token) uses the uring op bits")
        let receiving = receiving && completion
        guard table.insert(token.rawValue, fd: fd, receiving: receiving) else {
            throw .failed("io_uring POLL_ADD (token already registered)", errno: EEXIST)
        }
        // The first requests below use the descriptor: the slot is not live before
        // the kernel's answer (URingFileTable).
        try attachSlot(fd: fd, token: token.rawValue)
        if receiving { return }
        if oneshot {
            // Both directions once, so the initial state is reported as with epoll.
            try arm(token: token, events: [.read, .write])
        } else {
            try queuePoll(fd: fd, userData: token.rawValue, mask: Self.pollMask, multishot: true)
        }
    }

    /// One-shot polls (one-shot mode; a receiving descriptor's write direction, and
    /// its read direction while it has no RECV): watch the directions in `events`
    /// once more, unless already in the kernel. Otherwise nothing to do.
    public func arm(token: PollToken, events: PollEvents) throws(NetpollError) {
        guard let reg = table[token.rawValue], oneshot || reg.receiving else { return }
        let have = reg.armed
        var now = have
        let file = target(reg)
        if events.contains(.read) && !have.contains(.read) {
            try queuePoll(fd: file.fd, fixed: file.fixed, userData: token.rawValue, mask: Self.readMask, multishot: false)
            now.insert(.read)
        }
        if events.contains(.write) && !have.contains(.write) {
            try queuePoll(fd: file.fd, fixed: file.fixed, userData: token.rawValue | Self.writeBit, mask: Self.writeMask, multishot: false)
            now.insert(.write)
        }
        if now != have {
            counters.rearms &+= 1
            table.update(token.rawValue) { $0.armed = now }
        }
    }

    public var armsOnDemand: Bool { oneshot || completion }

    public var receiveCap: Int { options.receiveCap }

    /// The CLOSE goes through the ring with the next enter.
    public var closesWithoutSyscall: Bool { true }

    /// Queues a POLL_ADD: multishot for readiness registrations outside one-shot
    /// mode and for the wake channel, one-shot for armed directions.
    func queuePoll(fd: Int32, fixed: Bool = false, userData: UInt64, mask: UInt32, multishot: Bool) throws(NetpollError) {
        while !cnp_ring_prep_poll_add(ring, fd, fixed, mask, userData, multishot) {
            // SQ full: hand what is queued to the kernel and retry.
            try submit()
        }
    }

    func armWake() {
        // The SQ is empty at init and after submit(), so this cannot stay full; the
        // loop in queuePoll only fails on a broken ring, which submit() reports.
        try? queuePoll(fd: waker.fd, userData: PollToken.reservedWake, mask: Self.wakeMask, multishot: !oneshot)
    }

    /// io_uring_enter's transient answers: EINTR (a signal), EBUSY and EAGAIN (the
    /// kernel wants completions reaped first: CQ overflow on older kernels) and ETIME
    /// (a timed wait that ran out). The caller reaps and goes on; anything else is
    /// a broken ring.
    @inline(__always)
    @discardableResult
    func entered(_ rc: Int32) throws(NetpollError) -> Int32 {
        try NetpollError.checkNegated("io_uring_enter", rc) { $0 == EINTR || $0 == EBUSY || $0 == EAGAIN || $0 == ETIME }
    }

    func submit() throws(NetpollError) {
        counters.syscalls &+= 1
        try entered(cnp_ring_submit(ring, false))
    }

    // MARK: polling

    /// Has the ring deliver a poll completion for `token` with `mask` (and
    /// IORING_CQE_F_MORE, as a multishot poll that goes on), through a MSG_RING to
    /// itself that goes to the kernel with the next enter. For tests that need a
    /// completion the kernel posts only by chance (see `PollEvents(ringPollMask:)`).
    func postPollCompletion(token: PollToken, mask: UInt32) throws(NetpollError) {
        while !cnp_ring_prep_post_to_self(ring, Int32(bitPattern: mask), token.rawValue, CNP_CQE_F_MORE, Self.cancelAsync) {
            try submit()
        }
    }
}
