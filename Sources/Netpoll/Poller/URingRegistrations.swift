/// What the io_uring poller knows about one registered descriptor.
struct URingRegistration {
    /// The token it was registered under; 0 for a free entry (no token is 0).
    var token: UInt64 = 0
    var fd: Int32 = -1
    /// Completion mode: read by a multishot RECV; polls are one-shot per direction.
    /// Also a listener accepted on by a multishot ACCEPT (`accepting`), in any mode.
    var receiving = false
    /// A listener whose "RECV" is a multishot ACCEPT (``URingPoller/Feature/accept``).
    var accepting = false
    /// One-shot polls in the kernel (one-shot mode, and receiving descriptors).
    var armed: URingPoller.ArmedPolls = []
    var recv: RecvState = .off
    /// Its slot in the ring's file table, or -1 (``URingPoller/Feature/fixedFiles``);
    /// SQEs name the slot only once the kernel has confirmed it (`slotLive`).
    var slot: Int32 = -1
    var slotLive = false

    /// The completion-mode RECV (or a listener's multishot ACCEPT) of a descriptor.
    enum RecvState {
        /// Not in the kernel: the reader uses read(2) until it next waits.
        case off
        /// In the kernel, delivering data.
        case running
        /// Cancelled (the descriptor reached its cap) and not yet ended.
        case cancelling
    }
}

/// The io_uring poller's registrations, indexed by token slot: slots are small,
/// dense integers (the loop's PollCache indices), so an array answers a CQE's
/// lookup without hashing, and a steady state allocates nothing. An entry is
/// current only while its `token` (slot *and* seq) matches.
struct RegistrationTable {
    private var entries: [URingRegistration] = []

    /// The entry for `token`, if `token` is registered.
    @inline(__always)
    func contains(_ token: UInt64) -> Bool {
        let i = Int(PollToken(token).slot)
        return i < entries.count && entries[i].token == token
    }

    @inline(__always)
    subscript(_ token: UInt64) -> URingRegistration? {
        let i = Int(PollToken(token).slot)
        guard i < entries.count, entries[i].token == token else { return nil }
        return entries[i]
    }

    /// Runs `body` on the entry for `token`; nil if it is not registered.
    @inline(__always)
    @discardableResult
    mutating func update<R>(_ token: UInt64, _ body: (inout URingRegistration) -> R) -> R? {
        let i = Int(PollToken(token).slot)
        guard i < entries.count, entries[i].token == token else { return nil }
        return body(&entries[i])
    }

    /// Adds `token`; false if its slot is taken by a current registration.
    mutating func insert(_ token: UInt64, fd: Int32, receiving: Bool, accepting: Bool = false) -> Bool {
        let i = Int(PollToken(token).slot)
        if i >= entries.count {
            entries.append(contentsOf: repeatElement(URingRegistration(), count: i + 1 - entries.count))
        }
        if entries[i].token != 0 { return false }
        entries[i] = URingRegistration(token: token, fd: fd, receiving: receiving, accepting: accepting)
        return true
    }

    /// Removes `token`'s entry and returns it.
    mutating func remove(_ token: UInt64) -> URingRegistration? {
        let i = Int(PollToken(token).slot)
        guard i < entries.count, entries[i].token == token else { return nil }
        let r = entries[i]
        entries[i] = URingRegistration()
        return r
    }
}
