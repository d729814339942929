import Synchronization

/// Go's `fdMutex`: serialises reads, serialises writes, and counts every
/// operation in flight so that Close can wait for them.
///
/// ```
///  63        43 42        23 22         3   2   1   0
/// +------------+------------+------------+---+---+---+
/// |  wwait(20) |  rwait(20) |   refs(20) | W | R | C |
/// +------------+------------+------------+---+---+---+
///  C closed · R read lock held · W write lock held · refs: operations holding a
///  reference (locks included) · rwait/wwait: tasks waiting for R/W
/// ```
///
/// `state` is accessed atomically; the waiters park on `rsema`/`wsema`. Lock and
/// reference overflow is the error "too many concurrent operations"; an unlock
/// without a lock is a programming error and stops the program.
///
/// Non-copyable and stored inline in its FD (with its two semaphores), so a
/// descriptor is one allocation rather than four.
struct FDMutex: ~Copyable, Sendable {
    static let closed: UInt64 = 1 << 0
    static let rLock: UInt64 = 1 << 1
    static let wLock: UInt64 = 1 << 2
    static let ref: UInt64 = 1 << 3
    static let refMask: UInt64 = (1 << 20 - 1) << 3
    static let rWait: UInt64 = 1 << 23
    static let rMask: UInt64 = (1 << 20 - 1) << 23
    static let wWait: UInt64 = 1 << 43
    static let wMask: UInt64 = (1 << 20 - 1) << 43

    let state = Atomic<UInt64>(0)
    private let rsema = AsyncSemaphore()
    private let wsema = AsyncSemaphore()

    init() {}

    /// Adds a reference. False if closed.
    func incref() throws(NetpollError) -> Bool {
        var old = state.load(ordering: .relaxed)
        while true {
            if old & Self.closed != 0 { return false }
            let new = old &+ Self.ref
            if new & Self.refMask == 0 { throw .tooManyConcurrentOperations }
            let (done, now) = state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done { return true }
            old = now
        }
    }

    /// Marks closed, adds a reference and wakes every lock waiter (they will fail).
    /// False if already closed.
    func increfAndClose() throws(NetpollError) -> Bool {
        var old = state.load(ordering: .relaxed)
        while true {
            if old & Self.closed != 0 { return false }
            var new = (old | Self.closed) &+ Self.ref
            if new & Self.refMask == 0 { throw .tooManyConcurrentOperations }
            // Waiters are released below; they find `closed` and give up.
            new &= ~(Self.rMask | Self.wMask)
            let (done, now) = state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done {
                var w = old
                while w & Self.rMask != 0 {
                    w -= Self.rWait
                    rsema.release()
                }
                while w & Self.wMask != 0 {
                    w -= Self.wWait
                    wsema.release()
                }
                return true
            }
            old = now
        }
    }

    /// Drops a reference. True when it was the last one after close: the caller
    /// must destroy the descriptor.
    func decref() -> Bool {
        var old = state.load(ordering: .relaxed)
        while true {
            precondition(old & Self.refMask != 0, "netpoll: inconsistent FDMutex (decref without reference)")
            let new = old - Self.ref
            let (done, now) = state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done { return new & (Self.closed | Self.refMask) == Self.closed }
            old = now
        }
    }

    /// `rwlock`'s uncontended case, without a suspension point: one CAS that takes
    /// a free lock of an open descriptor. False whenever that is not the case
    /// (held, closed, contended, or the counts full): then call `rwlock`.
    @inline(__always)
    func tryRWLock(read: Bool) -> Bool {
        let bit = read ? Self.rLock : Self.wLock
        let old = state.load(ordering: .relaxed)
        guard old & (Self.closed | bit) == 0 else { return false }
        let new = (old | bit) &+ Self.ref
        guard new & Self.refMask != 0 else { return false }
        return state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing).exchanged
    }

    /// Takes the read (or write) lock and a reference, waiting while another task
    /// holds it. False if closed (before or while waiting).
    func rwlock(read: Bool) async throws(NetpollError) -> Bool {
        let bit = read ? Self.rLock : Self.wLock
        let wait = read ? Self.rWait : Self.wWait
        let mask = read ? Self.rMask : Self.wMask
        var old = state.load(ordering: .relaxed)
        while true {
            if old & Self.closed != 0 { return false }
            let new: UInt64
            if old & bit == 0 {
                // Lock is free: take it.
                new = (old | bit) &+ Self.ref
                if new & Self.refMask == 0 { throw .tooManyConcurrentOperations }
            } else {
                // Lock is held: queue as a waiter.
                new = old &+ wait
                if new & mask == 0 { throw .tooManyConcurrentOperations }
            }
            let (done, now) = state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done {
                if old & bit == 0 { return true }
                if read { await rsema.acquire() } else { await wsema.acquire() }
                // The releaser subtracted our wait count; try again.
                old = state.load(ordering: .relaxed)
            } else {
                old = now
            }
        }
    }

    /// Releases the lock and its reference, handing the lock to one waiter. True
    /// when that was the last reference after close: the caller must destroy.
    func rwunlock(read: Bool) -> Bool {
        let bit = read ? Self.rLock : Self.wLock
        let wait = read ? Self.rWait : Self.wWait
        let mask = read ? Self.rMask : Self.wMask
        var old = state.load(ordering: .relaxed)
        while true {
            precondition(old & bit != 0 && old & Self.refMask != 0, "netpoll: inconsistent FDMutex (unlock without lock)")
            var new = (old & ~bit) - Self.ref
            if old & mask != 0 { new -= wait }
            let (done, now) = state.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done {
                if old & mask != 0 {
                    if read { rsema.release() } else { wsema.release() }
                }
                return new & (Self.closed | Self.refMask) == Self.closed
            }
            old = now
        }
    }
}
