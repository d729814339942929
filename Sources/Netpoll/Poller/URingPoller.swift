import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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
/// - Listeners, with ``Feature/accept``: registered with nothing in the kernel; when
///   an accepter first waits, one multishot `ACCEPT` (user_data = token | `recvBit`,
///   the descriptor's input request, as a connection's RECV) hands up each accepted
///   descriptor as a ``RingReceipt/accepted(fd:ended:)``; the runtime queues them on
///   the listener's PollDesc like received bytes (URingPoller+Accept.swift).
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
    // Immutable after init.
    let ring: OpaquePointer
    let waker: WakeChannel
    public let options: Options
    let setupFlags: UInt32
    let cqeCapacity: Int
    let ringFDRegistered: Bool
    /// Optional features in use (URingFeatures.swift), and what `info` says of each.
    let featuresInUse: Set<Feature>
    let featureStatus: [(Feature, String)]
    /// Listeners accept through a multishot ACCEPT.
    let acceptsThroughRing: Bool
    /// A sleeping poll waits for a batch (``Feature/minWait``).
    let waitsForBatch: Bool
    // Owner thread only.
    /// Registered descriptors, indexed by token slot (see ``RegistrationTable``).
    var table = RegistrationTable()
    let cqes: UnsafeMutablePointer<cnp_cqe>
    /// CQEs reaped while a deregistration waited; delivered first by the next poll.
    var backlog: [cnp_cqe] = []
    /// Tokens whose poll ended (multishot cut short, or one-shot fired), to re-arm once
    /// the CQ has room: see ``queueRearms()``.
    var rearms: [UInt64] = []
    /// Multishot ACCEPTs of listeners no longer registered (closed) whose last CQE
    /// has not come yet, by user_data: a descriptor one of them still hands up is
    /// closed, not mistaken for a stale RECV's data.
    var acceptsEnding: [UInt64: Void] = [:]
    /// `onClosed` of each CLOSE in flight, by its user_data.
    var closing: [UInt64: OnClosed] = [:]
    /// A close's callback, boxed in a struct: a bare closure stored as a Dictionary
    /// value is reabstracted through a thunk whose context is a heap allocation, one
    /// `malloc` per closed connection (seen with malloc uprobes, scripts/malloc-census).
    struct OnClosed {
        let run: () -> Void
    }
    /// Ring buffers out of the kernel's hands (finished by it) and not yet back in
    /// the ring: see the buffer ledger in URingPoller+Receive.swift.
    ///
    /// This and `counters` are touched several times per loop turn and per received
    /// message, on the owner thread only and never across a call that could touch
    /// them again: no dynamic exclusivity check (4 to 8 per message in
    /// MessageCostTests; see docs/runtime-tricks.md#exclusivity).
    @exclusivity(unchecked) var buffersOut = 0
    /// The buffer ledger: per ring buffer, its holders (the kernel while it may still
    /// fill it, plus one per chunk of it handed up and not recycled), and where the
    /// kernel's next bytes in it go (always 0 without incremental buffers).
    let bufferHolders: UnsafeMutablePointer<UInt32>
    let bufferFill: UnsafeMutablePointer<UInt32>
    /// Completion mode with ``Feature/incrementalBuffers``.
    let incrementalBuffers: Bool
    /// The registered file table (``Feature/fixedFiles``), nil without it. Touched
    /// per registration and per slot answer, owner thread only: unchecked, as
    /// `buffersOut` (docs/runtime-tricks.md#exclusivity).
    @exclusivity(unchecked) var fileTable: URingFileTable?
    /// Set when this poll consumed a wake CQE: the poll must then not block, even if
    /// the wake was reaped from the ring before the wait (it is not an event).
    var wokeUp = false
    var closed = false
    var isClosed: Bool { closed }
    // Unchecked, as `buffersOut` (see docs/runtime-tricks.md#exclusivity).
    @exclusivity(unchecked) public internal(set) var counters = PollerCounters()
    /// The last negative result of the wake poll (e.g. -EINVAL where multishot poll
    /// is unknown); the availability probe reads it.
    var wakePollError: Int32 = 0
    #if FaultInjection
    /// RECVs cancelled by fault injection, by token: the errno their last CQE reports
    /// (URingPoller+FaultInjection.swift).
    var injectedEnds: [UInt64: Int32] = [:]
    #endif

    static let pollMask = PollEvents.kernelMaskWanted
    static let readMask = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
    static let writeMask = UInt32(EPOLLOUT.rawValue)
    /// Marks a one-shot write-direction poll's user_data (``PollToken`` keeps bit 63 free).
    static let writeBit = PollToken.uringWriteBit
    static let recvBit = PollToken.uringRecvBit
    static let closeBits = PollToken.uringCloseBits
    static let opMask = PollToken.uringOpMask
    var oneshot: Bool { options.mode == .oneshot }
    var completion: Bool { options.mode == .completion }
    static let wakeMask = UInt32(EPOLLIN.rawValue)

    public init(options: Options = Options()) throws(NetpollError) {
        var (inUse, status) = try Self.resolve(options.features)
        if options.mode != .completion, inUse.remove(.incrementalBuffers) != nil,
            let i = status.firstIndex(where: { $0.0 == .incrementalBuffers })
        {
            status[i].1 = "off (completion mode only)"
        }
        var ring: OpaquePointer?
        var last: Int32 = 0
        var used: UInt32 = 0
        #if FaultInjection
        let entries = FaultInjection.ringEntries(options.entries)
        #else
        let entries = options.entries
        #endif
        for flags in options.setup.attempts {
            last = cnp_ring_create(entries, flags, &ring)
            if last == 0 { used = flags; break }
            // EINVAL: the kernel does not know a flag; try the next set. Anything
            // else (EPERM, ENOSYS, ENOMEM) will not get better by dropping flags.
            if last != -EINVAL { break }
        }
        try NetpollError.checkNegated("io_uring_setup", last)
        guard let ring else { throw .failed("io_uring_setup", errno: EINVAL) }
        guard cnp_ring_features(ring) & CNP_FEAT_EXT_ARG != 0 else {
            cnp_ring_destroy(ring)
            throw .backendUnavailable(backend: "uring", reason: "kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)")
        }
        if options.mode == .completion {
            let rc = cnp_ring_setup_buffers(
                ring, options.receiveBuffers, options.receiveBufferSize, inUse.contains(.incrementalBuffers))
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
                throw .failed("io_uring_register_buf_ring", errno: -rc)
            }
        }
        var fileTable: URingFileTable?
        if inUse.contains(.fixedFiles) {
            // The kernel refuses a table larger than RLIMIT_NOFILE (EMFILE).
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            let slots = Int(min(UInt64(options.fileTableSlots), UInt64(limit.rlim_cur), 1 << 20))
            let rc = slots > 0 ? cnp_ring_register_files_sparse(ring, UInt32(slots)) : -EINVAL
            if rc == 0 {
                fileTable = URingFileTable(capacity: slots)
            } else {
                inUse.remove(.fixedFiles)
                if let i = status.firstIndex(where: { $0.0 == .fixedFiles }) {
                    status[i].1 = "off (a table of \(slots) slots was refused: \(String(cString: strerror(-rc))))"
                }
            }
        }
        let w: WakeChannel
        do { w = try WakeChannel() } catch {
            fileTable?.deallocate()
            cnp_ring_destroy(ring)
            throw error
        }
        self.ring = ring
        self.waker = w
        self.options = options
        self.setupFlags = used
        self.cqeCapacity = Int(cnp_ring_cq_entries(ring))
        self.featuresInUse = inUse
        self.featureStatus = status
        self.acceptsThroughRing = inUse.contains(.accept)
        self.incrementalBuffers = inUse.contains(.incrementalBuffers)
        self.fileTable = fileTable
        // Every buffer starts in the ring, held by the kernel alone.
        let ledger = options.mode == .completion ? Int(options.receiveBuffers) : 0
        self.bufferHolders = .allocate(capacity: ledger)
        self.bufferHolders.initialize(repeating: 1, count: ledger)
        self.bufferFill = .allocate(capacity: ledger)
        self.bufferFill.initialize(repeating: 0, count: ledger)
        self.waitsForBatch = inUse.contains(.minWait)
        self.cqes = .allocate(capacity: cqeCapacity)
        // Only where the ring has one submitter: a registered ring fd is per thread.
        self.ringFDRegistered = used & CNP_SETUP_SINGLE_ISSUER != 0 && cnp_ring_register_ring_fd(ring) == 0
        armWake()
    }

    deinit {
        close()
        cqes.deallocate()
        bufferHolders.deallocate()
        bufferFill.deallocate()
        fileTable?.deallocate()
    }

    public func wake() { waker.wake() }

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
        ] + featureStatus.map { ($0.0.rawValue, $0.1) }
            + (fileTable.map { [("file_table", "\($0.capacity) slots")] } ?? [])
            + (completion ? [("recv_buffers", "\(options.receiveBuffers)x\(options.receiveBufferSize)")] : []))
    }
}
