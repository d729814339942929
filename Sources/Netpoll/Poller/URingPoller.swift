import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Readiness through io_uring `POLL_ADD`: the same contract as ``EpollPoller``.
///
/// - One ring per poller, created on (and only used from) the owner thread, which
///   is what lets `SINGLE_ISSUER` and `DEFER_TASKRUN` apply.
/// - Registration queues a multishot `POLL_ADD` (`POLLIN|POLLOUT|POLLRDHUP`,
///   user_data = token) that goes to the kernel with the next poll: no syscall per
///   new descriptor. A CQE without `IORING_CQE_F_MORE` means the multishot ended
///   (CQ overflow, an error): it is re-armed, once the kernel's CQ overflow list has
///   drained (see `queueRearms`).
/// - One-shot mode keeps one poll per direction (read: `POLLIN|POLLRDHUP`,
///   user_data = token; write: `POLLOUT`, user_data = token | `writeBit`). Both are
///   armed at registration; after that a direction is re-armed only by ``arm(token:events:)``,
///   which the runtime calls when a task is about to wait. Re-arming on every event
///   instead would complete at once on any writable socket: an endless stream of
///   events (level-triggered polling without a consumer).
/// - Deregistration cancels the poll(s) with `ASYNC_CANCEL` and waits for the
///   answer *and* for each poll's final CQE: a pending poll holds a reference to
///   the file, so until then a close(2) would not send FIN. (`POLL_REMOVE` is not
///   used: under DEFER_TASKRUN it answers `-EALREADY` for a poll whose wakeup is
///   being processed and leaves a multishot poll armed.) CQEs for other tokens
///   reaped meanwhile are kept in `backlog` and delivered by the next poll.
/// - Late CQEs for removed or reused tokens are dropped (counted as stale);
///   `-ECANCELED`, `-ENOENT` are expected answers.
/// - `poll(timeout: .zero)` with nothing queued reads the CQ ring without a
///   syscall, unless the kernel holds completions back: CQ overflow, or task work
///   under `DEFER_TASKRUN` (signalled by `IORING_SQ_TASKRUN` thanks to
///   `TASKRUN_FLAG`) — both a memory read of the SQ flags.
/// Readiness through io_uring `POLL_ADD` — and, in completion mode, reads through
/// a multishot `RECV` — behind the same contract as ``EpollPoller``.
///
/// - One ring per poller, created on (and only used from) the owner thread, which
///   is what lets `SINGLE_ISSUER` and `DEFER_TASKRUN` apply. The ring's own
///   descriptor is registered with it (`io_uring_register_ring_fd`) where the
///   kernel allows, so no `io_uring_enter` looks it up.
/// - Registration queues a multishot `POLL_ADD` (`POLLIN|POLLOUT|POLLRDHUP`,
///   user_data = token) that goes to the kernel with the next poll: no syscall per
///   new descriptor. A CQE without `IORING_CQE_F_MORE` means the multishot ended
///   (CQ overflow, an error): it is re-armed, once the kernel's CQ overflow list has
///   drained (see `queueRearms`).
/// - One-shot mode keeps one poll per direction (read: `POLLIN|POLLRDHUP`,
///   user_data = token; write: `POLLOUT`, user_data = token | `writeBit`). Both are
///   armed at registration; after that a direction is re-armed only by ``arm(token:events:)``,
///   which the runtime calls when a task is about to wait. Re-arming on every event
///   instead would complete at once on any writable socket: an endless stream of
///   events (level-triggered polling without a consumer).
/// - Completion mode (see URingPoller+Receive.swift): descriptors registered with
///   `receiving: true` (connected stream sockets) are read by a multishot `RECV`
///   into the loop's provided-buffer ring; their write direction uses one-shot
///   `POLLOUT` polls as in one-shot mode. Every other descriptor is watched as in
///   multishot mode.
/// - ``closeDescriptor(fd:token:onClosed:)`` (the runtime's close) queues the
///   cancels of the descriptor's requests and an `IORING_OP_CLOSE`; they go to the
///   kernel with the next poll, and `onClosed` runs when the CLOSE completes. The
///   file's last reference — and so the FIN — goes when the cancelled requests
///   complete, in that same enter. ``deregister(fd:token:)`` is the synchronous
///   variant for callers that close the descriptor themselves: it waits for the
///   cancel's answer *and* each poll's final CQE, since a pending poll holds a
///   reference to the file and a close(2) before that would not send FIN.
///   (`POLL_REMOVE` is not used: under DEFER_TASKRUN it answers `-EALREADY` for a
///   poll whose wakeup is being processed and leaves a multishot poll armed.) CQEs
///   for other tokens reaped meanwhile are kept in `backlog` and delivered by the
///   next poll.
/// - Late CQEs for removed or reused tokens are dropped (counted as stale; a ring
///   buffer one carries goes straight back to the kernel); `-ECANCELED`, `-ENOENT`
///   are expected answers.
/// - `poll(timeout: .zero)` with nothing queued reads the CQ ring without a
///   syscall, unless the kernel holds completions back: CQ overflow, or task work
///   under `DEFER_TASKRUN` (signalled by `IORING_SQ_TASKRUN` thanks to
///   `TASKRUN_FLAG`) — both a memory read of the SQ flags.
public final class URingPoller: Poller, @unchecked Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// `IORING_POLL_ADD_MULTI`: armed once, re-armed only when the kernel ends it.
        case multishot
        /// One poll per direction, armed when a task is about to wait on it
        /// (``arm(token:events:)``): kernels before 5.13, and for comparison.
        case oneshot
        /// Connected stream sockets are read by a multishot `RECV` into a provided-
        /// buffer ring (Linux 6.0+); writes stay direct `send(2)` calls, with a
        /// one-shot `POLLOUT` poll when the socket is full. Everything else as
        /// `multishot`.
        case completion
    }

    /// Which ring setup flags to ask for; each falls back to the next the kernel accepts.
    public enum Setup: String, Sendable, CaseIterable {
        /// SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG → coop → plain.
        case deferTaskrun = "defer"
        /// SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG → plain.
        case coopTaskrun = "coop"
        /// No optional flags.
        case plain

        var attempts: [UInt32] {
            let single = CNP_SETUP_SINGLE_ISSUER, deferTR = CNP_SETUP_DEFER_TASKRUN
            let coop = CNP_SETUP_COOP_TASKRUN, flag = CNP_SETUP_TASKRUN_FLAG, all = CNP_SETUP_SUBMIT_ALL
            switch self {
            case .deferTaskrun: return [single | deferTR | flag | all, single | coop | flag | all, coop | all, all, 0]
            case .coopTaskrun: return [single | coop | flag | all, coop | all, all, 0]
            case .plain: return [all, 0]
            }
        }
    }

    public struct Options: Sendable, Hashable {
        public var entries: UInt32
        public var mode: Mode
        public var setup: Setup
        /// Completion mode: buffers in the loop's provided-buffer ring (a power of
        /// two, at most 32768) and the size of each. The default, 512 × 4 KiB = 2 MiB
        /// of address space per loop, holds one 4 KiB message for each of 512 busy
        /// connections; pages are only resident once the kernel has written them.
        public var receiveBuffers: UInt32
        public var receiveBufferSize: UInt32
        public init(
            entries: UInt32 = 256, mode: Mode = .multishot, setup: Setup = .deferTaskrun,
            receiveBuffers: UInt32 = 512, receiveBufferSize: UInt32 = 4096
        ) {
            self.entries = entries
            self.mode = mode
            self.setup = setup
            self.receiveBuffers = receiveBuffers
            self.receiveBufferSize = receiveBufferSize
        }

        /// Most ring buffers one descriptor may hold queued before its RECV is
        /// stopped: 1/32 of the ring, between 2 and 16 (64 KiB with the default
        /// ring). A reader that stops reading pins at most this much; the rest of
        /// the ring keeps serving the loop's other connections.
        public var receiveCap: Int { Int(max(2, min(16, receiveBuffers / 32))) }
    }

    // Immutable after init.
    let ring: OpaquePointer
    private let waker: WakeChannel
    public let options: Options
    private let setupFlags: UInt32
    private let cqeCapacity: Int
    private let ringFDRegistered: Bool
    // Owner thread only.
    /// Registered descriptors, indexed by token slot (see ``RegistrationTable``).
    var table = RegistrationTable()
    private let cqes: UnsafeMutablePointer<cnp_cqe>
    /// CQEs reaped while a deregistration waited; delivered first by the next poll.
    private var backlog: [cnp_cqe] = []
    /// Tokens whose poll ended (multishot cut short, or one-shot fired), to re-arm once
    /// the CQ has room: see ``queueRearms()``.
    private var rearms: [UInt64] = []
    /// `onClosed` of each CLOSE in flight, by its user_data.
    private var closing: [UInt64: OnClosed] = [:]
    /// A close's callback, boxed in a struct: a bare closure stored as a Dictionary
    /// value is reabstracted through a thunk whose context is a heap allocation, one
    /// `malloc` per closed connection (seen with malloc uprobes, scripts/malloc-census).
    private struct OnClosed {
        let run: () -> Void
    }
    /// Ring buffers handed up and not yet recycled.
    var buffersOut = 0
    /// Set when this poll consumed a wake CQE: the poll must then not block, even if
    /// the wake was reaped from the ring before the wait (it is not an event).
    private var wokeUp = false
    private var closed = false
    var isClosed: Bool { closed }
    public internal(set) var counters = PollerCounters()
    /// The last negative result of the wake poll (e.g. -EINVAL where multishot poll
    /// is unknown); the availability probe reads it.
    private(set) var wakePollError: Int32 = 0

    private static let pollMask = PollEvents.kernelMaskWanted
    static let readMask = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
    static let writeMask = UInt32(EPOLLOUT.rawValue)
    /// Marks a one-shot write-direction poll's user_data (``PollToken`` keeps bit 63 free).
    static let writeBit = PollToken.uringWriteBit
    static let recvBit = PollToken.uringRecvBit
    static let closeBits = PollToken.uringCloseBits
    static let opMask = PollToken.uringOpMask
    private var oneshot: Bool { options.mode == .oneshot }
    var completion: Bool { options.mode == .completion }
    private static let wakeMask = UInt32(EPOLLIN.rawValue)

    public init(options: Options = Options()) throws(NetpollError) {
        var ring: OpaquePointer?
        var last: Int32 = 0
        var used: UInt32 = 0
        for flags in options.setup.attempts {
            last = cnp_ring_create(options.entries, flags, &ring)
            if last == 0 { used = flags; break }
            // EINVAL: the kernel does not know a flag; try the next set. Anything
            // else (EPERM, ENOSYS, ENOMEM) will not get better by dropping flags.
            if last != -EINVAL { break }
        }
        guard last == 0, let ring else { throw .system("io_uring_setup", -last) }
        guard cnp_ring_features(ring) & CNP_FEAT_EXT_ARG != 0 else {
            cnp_ring_destroy(ring)
            throw .backendUnavailable(backend: "uring", reason: "kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)")
        }
        if options.mode == .completion {
            let rc = cnp_ring_setup_buffers(ring, options.receiveBuffers, options.receiveBufferSize)
            if rc != 0 {
                cnp_ring_destroy(ring)
                if rc == -EINVAL && (options.receiveBuffers == 0 || options.receiveBuffers > 32768
                    || options.receiveBuffers & (options.receiveBuffers - 1) != 0 || options.receiveBufferSize == 0)
                {
                    throw .invalidSetting(
                        name: "receiveBuffers", value: "\(options.receiveBuffers) x \(options.receiveBufferSize)",
                        allowed: "a power of two from 1 to 32768 buffers of at least 1 byte")
                }
                if rc == -EINVAL || rc == -ENOENT || rc == -EOPNOTSUPP {
                    throw .backendUnavailable(
                        backend: "uring", reason: "kernel lacks provided-buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19+): \(String(cString: strerror(-rc)))")
                }
                throw .system("io_uring_register_buf_ring", -rc)
            }
        }
        let w: WakeChannel
        do { w = try WakeChannel() } catch {
            cnp_ring_destroy(ring)
            throw error
        }
        self.ring = ring
        self.waker = w
        self.options = options
        self.setupFlags = used
        self.cqeCapacity = Int(cnp_ring_cq_entries(ring))
        self.cqes = .allocate(capacity: cqeCapacity)
        // Only where the ring has one submitter: a registered ring fd is per thread.
        self.ringFDRegistered = used & CNP_SETUP_SINGLE_ISSUER != 0 && cnp_ring_register_ring_fd(ring) == 0
        armWake()
    }

    deinit {
        close()
        cqes.deallocate()
    }

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

    /// Registers `fd`. With `receiving` (completion mode only; connected stream
    /// sockets) nothing goes to the kernel yet: the RECV starts when a reader first
    /// waits (``armReceive(token:)``) and the write poll when a writer does.
    public func register(fd: Int32, token: PollToken, receiving: Bool) throws(NetpollError) {
        precondition(token.rawValue & Self.opMask == 0, "netpoll: token \(token) uses the uring op bits")
        let receiving = receiving && completion
        guard table.insert(token.rawValue, fd: fd, receiving: receiving) else {
            throw .system("io_uring POLL_ADD (token already registered)", EEXIST)
        }
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
        if events.contains(.read) && !have.contains(.read) {
            try queuePoll(fd: reg.fd, userData: token.rawValue, mask: Self.readMask, multishot: false)
            now.insert(.read)
        }
        if events.contains(.write) && !have.contains(.write) {
            try queuePoll(fd: reg.fd, userData: token.rawValue | Self.writeBit, mask: Self.writeMask, multishot: false)
            now.insert(.write)
        }
        if now != have {
            counters.rearms &+= 1
            table.update(token.rawValue) { $0.armed = now }
        }
    }

    public var armsOnDemand: Bool { oneshot || completion }

    /// In completion mode a connection's reads come from the ring (``armReceive(token:)``).
    public func register(fd: Int32, token: PollToken, connection: Bool) throws(NetpollError) -> Bool {
        let receiving = connection && completion
        try register(fd: fd, token: token, receiving: receiving)
        return receiving
    }

    public var receiveCap: Int { options.receiveCap }
    /// The CLOSE goes through the ring with the next enter.
    public var closesWithoutSyscall: Bool { true }

    /// Stops watching `fd` and closes it through the ring: the cancels of its
    /// requests and an `IORING_OP_CLOSE` are queued and go to the kernel with the
    /// next poll — no syscall and no waiting here. `onClosed` runs on this thread
    /// when the CLOSE completes (the descriptor number is then free).
    public func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void) {
        if let reg = table.remove(token.rawValue) {
            if !rearms.isEmpty { rearms.removeAll { $0 == token.rawValue } }
            do throws(NetpollError) {
                if reg.receiving {
                    // Everything on this descriptor at once (RECV, one-shot polls) —
                    // unless nothing is in the kernel: a connection whose RECV ended
                    // with the peer's FIN (a short-lived one, typically) needs no cancel.
                    if reg.recv != .off || !reg.armed.isEmpty { try queueCancel(fd: fd) }
                } else if oneshot {
                    if reg.armed.contains(.read) { try cancel(token.rawValue, tag: Self.cancelAsync) }
                    if reg.armed.contains(.write) { try cancel(token.rawValue | Self.writeBit, tag: Self.cancelAsync) }
                } else {
                    try cancel(token.rawValue, tag: Self.cancelAsync)
                }
            } catch {
                // A broken ring: nothing is in the kernel to wait for any more.
            }
        }
        let ud = token.rawValue | Self.closeBits
        do throws(NetpollError) {
            while !cnp_ring_prep_close(ring, fd, ud) { try submit() }
            closing[ud] = OnClosed(run: onClosed)
        } catch {
            Glibc.close(fd)
            onClosed()
        }
    }

    public func deregister(fd: Int32, token: PollToken) throws(NetpollError) {
        // Unknown token: the poll already ended for good (e.g. -EBADF) and was dropped.
        guard let reg = table.remove(token.rawValue) else { return }
        if !rearms.isEmpty { rearms.removeAll { $0 == token.rawValue } }
        // The polls that may be in the kernel for this descriptor: at most two (one-shot
        // read and write), kept in fixed slots so deregistering allocates nothing. Each
        // cancel carries its slot's tag, so its answer names its target.
        var slots = (CancelSlot(tag: Self.cancelRead), CancelSlot(tag: Self.cancelWrite))
        if oneshot || reg.receiving {
            if reg.armed.contains(.read) { slots.0.target = token.rawValue }
            if reg.armed.contains(.write) { slots.1.target = token.rawValue | Self.writeBit }
        } else {
            slots.0.target = token.rawValue
        }
        if reg.receiving && reg.recv != .off {
            // A synchronous deregistration of a receiving descriptor (a test's): its
            // RECV goes too, without waiting for its final CQE.
            try cancel(token.rawValue | Self.recvBit, tag: Self.cancelAsync)
        }
        if let t = slots.0.target { try cancel(t, tag: slots.0.tag) }
        if let t = slots.1.target { try cancel(t, tag: slots.1.tag) }
        // Wait until each target is settled: its cancel answered -ENOENT (no such poll:
        // it had already ended) or the poll's final CQE (no F_MORE) was seen.
        var waited = 0
        while slots.0.target != nil || slots.1.target != nil {
            counters.syscalls &+= 1
            let rc = try entered(cnp_ring_submit_and_wait(ring, 100_000_000))
            let n = reapRaw()
            for i in 0..<n {
                let c = cqes[i]
                if !slots.0.settle(by: c) && !slots.1.settle(by: c) {
                    if c.user_data == Self.cancelRead || c.user_data == Self.cancelWrite {
                        // An answer to an earlier, repeated cancel: nothing to do.
                    } else {
                        backlog.append(c)
                    }
                } else if c.user_data & ~Self.opMask == token.rawValue {
                    counters.staleEvents &+= 1
                }
            }
            if n == 0 && rc == -ETIME {
                waited += 1
                // A poll the cancel could not stop right away (-EALREADY) ends soon after;
                // ask again every half second. After ten seconds the kernel is not
                // going to answer.
                if waited % 5 == 0 {
                    if let t = slots.0.target { try cancel(t, tag: slots.0.tag) }
                    if let t = slots.1.target { try cancel(t, tag: slots.1.tag) }
                }
                if waited >= 100 { throw .system("io_uring ASYNC_CANCEL (no completion)", ETIMEDOUT) }
            }
        }
    }

    /// One poll being cancelled by `deregister`.
    private struct CancelSlot {
        let tag: UInt64
        /// The poll's user_data while it may still be in the kernel; nil once settled.
        var target: UInt64?

        init(tag: UInt64) { self.tag = tag }

        /// True if `c` is about this slot (its cancel's answer or its poll's CQE).
        mutating func settle(by c: cnp_cqe) -> Bool {
            guard let t = target else { return false }
            if c.user_data == tag {
                // 0 or -EALREADY: the poll's own final CQE follows. Anything else
                // (-ENOENT, or a kernel that cannot cancel) means nothing is pending.
                if c.res != 0 && c.res != -EALREADY { target = nil }
                return true
            }
            if c.user_data == t {
                if c.flags & CNP_CQE_F_MORE == 0 { target = nil }
                return true
            }
            return false
        }
    }

    /// user_data of the cancels for a descriptor's read (or only) and write poll.
    static let cancelRead = PollToken.reservedRemove
    static let cancelWrite = PollToken.reservedRemove - 1
    /// user_data of cancels nobody waits for (close, a receive cap): answers ignored.
    static let cancelAsync = PollToken.reservedRemove - 2

    /// Has the ring deliver a poll completion for `token` with `mask` (and
    /// IORING_CQE_F_MORE, as a multishot poll that goes on), through a MSG_RING to
    /// itself that goes to the kernel with the next enter. For tests that need a
    /// completion the kernel posts only by chance (see `PollEvents(ringPollMask:)`).
    func postPollCompletion(token: PollToken, mask: UInt32) throws(NetpollError) {
        while !cnp_ring_prep_post_to_self(ring, Int32(bitPattern: mask), token.rawValue, CNP_CQE_F_MORE, Self.cancelAsync) {
            try submit()
        }
    }

    func cancel(_ target: UInt64, tag: UInt64) throws(NetpollError) {
        while !cnp_ring_prep_cancel(ring, target, tag) {
            try submit()
        }
    }

    private func queueCancel(fd: Int32) throws(NetpollError) {
        while !cnp_ring_prep_cancel_fd(ring, fd, Self.cancelAsync) {
            try submit()
        }
    }

    /// Queues a POLL_ADD: multishot for readiness registrations outside one-shot
    /// mode and for the wake channel, one-shot for armed directions.
    func queuePoll(fd: Int32, userData: UInt64, mask: UInt32, multishot: Bool) throws(NetpollError) {
        while !cnp_ring_prep_poll_add(ring, fd, mask, userData, multishot) {
            // SQ full: hand what is queued to the kernel and retry.
            try submit()
        }
    }

    private func armWake() {
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
    private func entered(_ rc: Int32) throws(NetpollError) -> Int32 {
        try NetpollError.checkNegated("io_uring_enter", rc) { $0 == EINTR || $0 == EBUSY || $0 == EAGAIN || $0 == ETIME }
    }

    func submit() throws(NetpollError) {
        counters.syscalls &+= 1
        try entered(cnp_ring_submit(ring, false))
    }

    // MARK: polling

    public func poll(timeout: Duration?, _ body: (PollToken, PollEvents) -> Void) throws(NetpollError) -> Int {
        try poll(timeout: timeout, body) { token, receipt in
            // No one to hand data to: give the buffer straight back.
            if case .data(let bid, _, _, _) = receipt { recycle(buffer: bid) }
        }
    }

    /// ``poll(timeout:_:)`` that also hands completion-mode receipts to `received`
    /// (the EventLoop's). `body` and `received` run on this thread, in CQ order.
    public func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        var delivered = 0
        wokeUp = false
        if !backlog.isEmpty {
            let held = backlog
            backlog.removeAll(keepingCapacity: true)
            for c in held { delivered += try dispatch(c, body, received) }
        }
        delivered += try drainRing(body, received)
        try queueRearms()
        let pending = cnp_ring_sq_pending(ring) > 0
        if delivered > 0 || wokeUp || timeout == .zero {
            // Non-blocking: enter only to submit queued SQEs or to collect completions
            // the kernel holds back; otherwise this was a pure memory read.
            if pending || cnp_ring_needs_enter(ring) {
                counters.syscalls &+= 1
                try entered(cnp_ring_submit(ring, true))
                delivered += try drainRing(body, received)
                try queueRearms()
            }
            return delivered
        }
        counters.syscalls &+= 1
        let ns: Int64 = timeout.map { $0.saturatingNanoseconds } ?? -1
        try entered(cnp_ring_submit_and_wait(ring, ns))
        delivered += try drainRing(body, received)
        try queueRearms()
        return delivered
    }

    /// Re-arms ended polls, but only while the kernel holds no overflowed CQEs and at
    /// most half a CQ ring at a time. A poll armed on a ready descriptor completes at
    /// once; while the overflow list is non-empty the kernel cannot post that as a
    /// multishot CQE, so the poll ends again. Re-arming immediately would keep the
    /// overflow list at a constant size for ever once more descriptors are ready than
    /// the CQ holds: a livelock inside `drainRing`. The queued SQEs go to the
    /// kernel with the next poll's enter.
    private func queueRearms() throws(NetpollError) {
        guard !rearms.isEmpty, !cnp_ring_needs_enter(ring) else { return }
        let budget = min(rearms.count, max(1, cqeCapacity / 2))
        for ud in rearms[..<budget] {
            guard let reg = table[ud] else { continue }
            counters.rearms &+= 1
            try queuePoll(fd: reg.fd, userData: ud, mask: Self.pollMask, multishot: true)
        }
        rearms.removeFirst(budget)
    }

    /// Reaps the CQ ring until it is empty. No syscall unless completions are held back.
    private func drainRing(
        _ body: (PollToken, PollEvents) -> Void, _ received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        var delivered = 0
        while true {
            let n = reapRaw()
            if n == 0 { return delivered }
            for i in 0..<n { delivered += try dispatch(cqes[i], body, received) }
            if n < cqeCapacity { return delivered }
        }
    }

    private func reapRaw() -> Int {
        Int(cnp_ring_reap(ring, cqes, UInt32(cqeCapacity)))
    }

    /// One CQE: the single place that interprets user_data, res and flags.
    @inline(__always)
    private func dispatch(
        _ c: cnp_cqe, _ body: (PollToken, PollEvents) -> Void, _ received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        let ended = c.flags & CNP_CQE_F_MORE == 0
        switch c.user_data {
        case PollToken.reservedWake:
            if c.res < 0 {
                wakePollError = c.res
                // EINVAL will not heal by re-arming; leave the wake channel to the
                // availability probe, which reports it.
                if c.res == -EINVAL { return 0 }
            }
            if c.res > 0 {
                counters.syscalls &+= 1
                waker.consume()
                wokeUp = true
            }
            if ended && !closed {
                counters.rearms &+= 1
                try queuePoll(fd: waker.fd, userData: PollToken.reservedWake, mask: Self.wakeMask, multishot: !oneshot)
            }
            return 0
        case Self.cancelRead, Self.cancelWrite, Self.cancelAsync:
            // A cancel answered after its deregistration stopped waiting, or one
            // nobody waits for: nothing to do.
            return 0
        default:
            break
        }
        let op = c.user_data & Self.opMask
        let token = c.user_data & ~Self.opMask
        if op == Self.closeBits {
            closing.removeValue(forKey: c.user_data)?.run()
            return 0
        }
        if op == Self.recvBit {
            return receiveCompleted(c, token: token, ended: ended, received)
        }
        guard let reg = table[token] else {
            counters.staleEvents &+= 1
            return 0
        }
        // One-shot polls: the direction whose poll this was. Its waiter must be woken
        // whatever the mask says (the kernel may answer a POLLOUT poll with only
        // POLLRDHUP), because that poll is now out of the kernel until the next
        // arm(): a waiter left parked would wait for ever.
        let oneshotPolls = oneshot || reg.receiving
        var direction = PollEvents()
        if oneshotPolls, ended {
            let isWrite = op == Self.writeBit
            direction = isWrite ? .write : .read
            table.update(token) { $0.armed.remove(isWrite ? .write : .read) }
        }
        var delivered = 0
        if c.res >= 0 {
            body(PollToken(token), PollEvents(ringPollMask: UInt32(bitPattern: c.res)).union(direction))
            delivered = 1
        } else if c.res == -EBADF {
            // The descriptor was closed without deregistering: wake both waiters so
            // their syscalls report EBADF, and stop watching.
            _ = table.remove(token)
            body(PollToken(token), [.read, .write, .error, .errorPending])
            return 1
        } else if c.res != -ECANCELED {
            // Any other poll failure: let the waiters retry their syscall, which
            // reports the real condition.
            body(PollToken(token), [.read, .write])
            delivered = 1
        } else if !direction.isEmpty {
            // A one-shot poll cancelled by the kernel (not by deregister, which has
            // already dropped the token): its waiter retries and arms again.
            body(PollToken(token), direction)
            delivered = 1
        }
        if ended && !oneshotPolls { rearms.append(token) }
        return delivered
    }

    /// Proves the kernel accepts this poller's poll mode: wake, poll, and look at the
    /// wake poll's answer. Used by backend selection, on a throwaway poller.
    func selfTest() throws(NetpollError) {
        wake()
        _ = try poll(timeout: .seconds(1)) { _, _ in }
        if wakePollError == -EINVAL {
            throw .backendUnavailable(
                backend: "uring",
                reason: options.mode == .multishot
                    ? "kernel lacks multishot poll (IORING_POLL_ADD_MULTI, Linux 5.13+): POLL_ADD returned EINVAL"
                    : "POLL_ADD returned EINVAL")
        }
        if wakePollError < 0 { throw .system("io_uring POLL_ADD", -wakePollError) }
        if waker.isPending {
            throw .backendUnavailable(backend: "uring", reason: "POLL_ADD on an eventfd produced no completion within 1 s")
        }
        if completion { try selfTestReceive() }
    }

    public func wake() { waker.wake() }

    /// Closes the ring (and the descriptors it was still closing).
    ///
    /// Kernel behaviour to know when closing on a thread of your own: the ring's
    /// teardown finishes in a kernel worker, which then sends each thread that ever
    /// submitted to the ring task work flagged like a signal. That thread's next
    /// blocking system call can return early as if a signal had arrived: EINTR, or
    /// a short read or write (seen on every io_uring mode, never on epoll: see
    /// docs/performance-log.md). Cancelling and reaping every
    /// request before the teardown does not prevent it. An event loop's thread ends
    /// right after closing its poller; code that goes on after closing a raw poller
    /// must handle EINTR and short transfers, as it must for any signal.
    public func close() {
        guard !closed else { return }
        closed = true
        finishClosing()
        cnp_ring_destroy(ring)
        waker.close()
    }

    /// CLOSEs still queued or in flight when the poller closes: the ring's teardown
    /// would drop them, leaving their descriptors open and their closers waiting.
    /// Submit them and wait (briefly: a CLOSE completes at once) for their answers.
    private func finishClosing() {
        var rounds = 0
        while !closing.isEmpty && rounds < 50 {
            rounds += 1
            _ = cnp_ring_submit_and_wait(ring, 20_000_000)
            let n = reapRaw()
            for i in 0..<n where cqes[i].user_data & Self.opMask == Self.closeBits
                && cqes[i].user_data >> 32 != 0xFFFF_FFFF
            {
                closing.removeValue(forKey: cqes[i].user_data)?.run()
            }
        }
        // The kernel never answered: let the closers go on rather than hang.
        for (_, onClosed) in closing { onClosed.run() }
        closing.removeAll()
    }

    /// Setup flags in effect, by name.
    public var setupFlagNames: [String] {
        var names: [String] = []
        if setupFlags & CNP_SETUP_SINGLE_ISSUER != 0 { names.append("SINGLE_ISSUER") }
        if setupFlags & CNP_SETUP_DEFER_TASKRUN != 0 { names.append("DEFER_TASKRUN") }
        if setupFlags & CNP_SETUP_COOP_TASKRUN != 0 { names.append("COOP_TASKRUN") }
        if setupFlags & CNP_SETUP_TASKRUN_FLAG != 0 { names.append("TASKRUN_FLAG") }
        if setupFlags & CNP_SETUP_SUBMIT_ALL != 0 { names.append("SUBMIT_ALL") }
        return names
    }

    public var features: PollerFeatures {
        let feats = cnp_ring_features(ring)
        return PollerFeatures(backend: "uring", details: [
            ("mode", options.mode.rawValue),
            ("setup", setupFlagNames.isEmpty ? "none" : setupFlagNames.joined(separator: "|")),
            ("sq_entries", String(cnp_ring_sq_entries(ring))),
            ("cq_entries", String(cnp_ring_cq_entries(ring))),
            ("nodrop", feats & CNP_FEAT_NODROP != 0 ? "yes" : "no"),
            ("ring_fd", ringFDRegistered ? "registered" : "plain"),
        ] + (completion ? [("recv_buffers", "\(options.receiveBuffers)x\(options.receiveBufferSize)")] : []))
    }
}
