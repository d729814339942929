import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The loop as an executor: jobs from this thread go on the local queue without a
// lock; from other threads through `remote`, with a wake when the loop sleeps.
extension EventLoop {
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if inEventLoop {
            runQueue.append(.job(unowned))
        } else {
            sendRemote(.job(unowned))
        }
    }

    /// ``LoopIsolation``'s enqueue.
    func enqueueIsolated(_ job: UnownedJob) {
        if inEventLoop {
            runQueue.append(.isolatedJob(job))
        } else {
            sendRemote(.isolatedJob(job))
        }
    }

    /// Runs `body` on the loop thread (inline order with other work).
    public func execute(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop {
            runQueue.append(.closure(body))
        } else {
            sendRemote(.closure(body))
        }
    }

    /// Runs `body` on the loop thread and returns its result.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if inEventLoop { return try body() }
        let result: T = try await withUnsafeThrowingContinuation { c in
            execute {
                let r = Result { try body() }
                c.releaseToTask()
                c.resume(with: r)
            }
        }
        acquireFromResumer()
        return result
    }

    func sendRemote(_ work: Work) {
        let ranInline: Work? = remote.locked { r in
            if r.stopped { return work }
            r.work.append(work)
            return nil
        }
        if let work = ranInline {
            // The loop has exited: tasks continue on the global executor, loop chores
            // (closing descriptors) run here.
            switch work {
            case .job(let j), .isolatedJob(let j): globalConcurrentExecutor.enqueue(ExecutorJob(j))
            case .closure(let body): body()
            case .recycle: break  // the ring is gone with its buffers
            }
            return
        }
        hasRemote.store(true, ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .sequentiallyConsistent) { wakePoller() }
    }

    /// Wakes the poller unless the loop has finished: `finish` sets `stopped` under
    /// the same lock before it closes the poller, so a wake can never write to a
    /// closed (and possibly reused) eventfd.
    func wakePoller() {
        remote.locked { r in
            guard !r.stopped, let waker = pollerWaker else { return }
            stats.wakes.wrappingAdd(1, ordering: .relaxed)
            waker.wake()
        }
    }

    /// A timer became the earliest: a sleeping loop must recompute its timeout.
    func timerChanged() {
        if !inEventLoop && sleeping.load(ordering: .sequentiallyConsistent) { wakePoller() }
    }

    // MARK: descriptors (loop thread)
}
