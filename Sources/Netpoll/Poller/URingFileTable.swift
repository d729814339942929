/// The ring's registered file table (``URingPoller/Feature/fixedFiles``): which of
/// its slots are free, which registration owns each of the others, and the value
/// each slot's `IORING_OP_FILES_UPDATE` reads. Owner thread only; it allocates
/// nothing after init.
///
/// A slot's life:
/// 1. ``claim(fd:token:)`` takes a free slot and records the descriptor in
///    `values`, where the update SQE points: the kernel reads it when it issues the
///    SQE, at the next enter, so it must not change before then. A slot has at most
///    one update in flight (see 3), so nothing overwrites it early.
/// 2. The update's answer (``added(slot:ok:)``) makes the slot *live*: only then do
///    SQEs name the slot instead of the descriptor. SQEs queued before the answer
///    use the plain descriptor, so a refused update (ENOMEM) can never leave a
///    request pointing at an empty slot (which the kernel would answer with EBADF,
///    indistinguishable from a closed descriptor).
/// 3. ``release(slot:)`` (the descriptor closes) empties the slot through the ring
///    (a CLOSE of the slot, queued by the caller after the descriptor's cancels, so
///    they still find its requests). The slot is free at once — unless its update
///    has not been answered: then it waits for that answer, so the answer is never
///    taken for a later owner's.
struct URingFileTable {
    let capacity: Int
    /// Free slots, a stack (the last freed is reused first: its kernel entry is warm).
    private let free: UnsafeMutablePointer<Int32>
    private var freeCount: Int
    /// What each slot's update puts in the table.
    let values: UnsafeMutablePointer<Int32>
    /// The token that owns each slot; 0 for a free one or one released while its
    /// update was in flight.
    private let owners: UnsafeMutablePointer<UInt64>
    /// Whether each slot's update is unanswered.
    private let pending: UnsafeMutablePointer<Bool>

    init(capacity: Int) {
        self.capacity = capacity
        free = .allocate(capacity: capacity)
        // Slot 0 on top: small slots first.
        for i in 0..<capacity { free[i] = Int32(capacity - 1 - i) }
        freeCount = capacity
        values = .allocate(capacity: capacity)
        values.initialize(repeating: -1, count: capacity)
        owners = .allocate(capacity: capacity)
        owners.initialize(repeating: 0, count: capacity)
        pending = .allocate(capacity: capacity)
        pending.initialize(repeating: false, count: capacity)
    }

    func deallocate() {
        free.deallocate()
        values.deallocate()
        owners.deallocate()
        pending.deallocate()
    }

    /// Slots owned or waiting for an answer.
    var inUse: Int { capacity - freeCount }

    /// A free slot for `fd`, owned by `token`; nil when the table is full.
    mutating func claim(fd: Int32, token: UInt64) -> Int32? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        let slot = free[freeCount]
        values[Int(slot)] = fd
        owners[Int(slot)] = token
        pending[Int(slot)] = true
        return slot
    }

    /// The answer to `slot`'s update. Returns the owner to tell (nil: released
    /// meanwhile, and now free). A refused update frees the slot; its owner goes on
    /// with its plain descriptor.
    mutating func added(slot: Int32, ok: Bool) -> UInt64? {
        let i = Int(slot)
        guard i < capacity, pending[i] else { return nil }
        pending[i] = false
        let owner = owners[i]
        if owner == 0 || !ok {
            push(slot)
            return owner == 0 ? nil : owner
        }
        return owner
    }

    /// The owner of `slot` no longer needs it (its CLOSE is queued).
    mutating func release(slot: Int32) {
        let i = Int(slot)
        // `values[i]` stays: an update not yet issued still reads the descriptor,
        // and the slot's CLOSE, queued after it, empties the slot again.
        owners[i] = 0
        if !pending[i] { push(slot) }
    }

    private mutating func push(_ slot: Int32) {
        owners[Int(slot)] = 0
        free[freeCount] = slot
        freeCount += 1
    }
}
