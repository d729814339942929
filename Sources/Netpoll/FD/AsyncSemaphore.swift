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
    // then see this type from their files (a private one crashes swiftc 6.3).
    struct State {
        var count = 0
        var waiters: [UnsafeContinuation<Void, Never>] = []
        var head = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Takes one unit, waiting for a `release` if none is available.
    func acquire() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let now = state.locked { s -> Bool in
                if s.count > 0 {
                    s.count -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        acquireFromResumer()
    }

    /// Adds one unit, or hands it straight to the oldest waiter.
    func release() {
        let waiter = state.locked { s -> UnsafeContinuation<Void, Never>? in
            if s.head < s.waiters.count {
                let c = s.waiters[s.head]
                s.head += 1
                if s.head == s.waiters.count {
                    s.waiters.removeAll(keepingCapacity: true)
                    s.head = 0
                }
                return c
            }
            s.count += 1
            return nil
        }
        waiter?.releaseToTask()
        waiter?.resume()
    }
}
