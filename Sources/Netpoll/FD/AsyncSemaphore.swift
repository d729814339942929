import Synchronization

/// A counting semaphore whose waiters are parked tasks (Go: runtime_Semacquire /
/// runtime_Semrelease on an address). Used by FDMutex and Close; contended only
/// when two tasks race for the same lock, so a lock and an array are enough.
///
/// A non-copyable value stored inline in its owner (FD, FDMutex) rather than an
/// object of its own: three semaphores per descriptor were three `malloc`s per
/// accepted connection and about 190 bytes per idle one.
struct AsyncSemaphore: ~Copyable, Sendable {
    // Not private: FD and FDMutex embed the semaphore, and a non-WMO build must
    // then see this type from their files (a private one crashes swiftc 6.3; see
    // docs/runtime-tricks.md#workarounds).
    struct State {
        var count = 0
        /// The oldest waiter, kept inline: the common wait — Close waiting for an
        /// io_uring CLOSE to complete, one waiter per descriptor — then allocates
        /// no array storage (it was one `malloc` per closed connection).
        var first: ParkedTask?
        /// Waiters after `first`, oldest at `head`. Non-empty only while `first` is
        /// set, so the order is `first`, then `waiters[head...]`.
        var waiters: [ParkedTask] = []
        var head = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Takes one unit, waiting for a `release` if none is available. A waiter
    /// isolated to a loop is resumed straight onto it (LoopResume): Close waits
    /// here for io_uring's CLOSE once per connection.
    func acquire(isolation: isolated (any Actor)? = #isolation) async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            // Outside the lock: callers come here only to wait, or nearly so.
            let waiter = ParkedTask(c, isolation: isolation)
            let now = state.locked { s -> Bool in
                if s.count > 0 {
                    s.count -= 1
                    return true
                }
                if s.first == nil { s.first = waiter } else { s.waiters.append(waiter) }
                return false
            }
            if now { c.resume() }
        }
        acquireFromResumer()
    }

    /// Tasks waiting now (for tests).
    var waiting: Int {
        state.locked { s in (s.first == nil ? 0 : 1) + s.waiters.count - s.head }
    }

    /// Adds one unit, or hands it straight to the oldest waiter.
    func release() {
        let waiter = state.locked { s -> ParkedTask? in
            guard let c = s.first else {
                s.count += 1
                return nil
            }
            // Promote the next oldest, keeping `waiters` empty whenever `first` is nil.
            if s.head < s.waiters.count {
                s.first = s.waiters[s.head]
                s.head += 1
                if s.head == s.waiters.count {
                    s.waiters.removeAll(keepingCapacity: true)
                    s.head = 0
                }
            } else {
                s.first = nil
            }
            return c
        }
        waiter?.continuation.releaseToTask()
        waiter?.resume()
    }
}
