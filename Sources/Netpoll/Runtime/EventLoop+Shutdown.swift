import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The idle sweep and the end of a loop: evict every descriptor, run what is
// queued, close the poller, let the thread go.
extension EventLoop {
    /// Wakes, without I/O, each reader in a retirable wait that has stayed parked
    /// since the previous call (PollDesc+Dormant.swift). Runs on the loop thread
    /// (the cache is the loop's); costs one relaxed load per descriptor slot.
    func retireIdleReaders() {
        if !inEventLoop {
            execute { [self] in retireIdleReaders() }
            return
        }
        for pd in cache.all {
            pd.sweepRetire()?.resume()
        }
    }

    // MARK: shutdown

    /// Asks the loop to stop: every open descriptor is evicted (its waiters get the
    /// closed error), queued work runs, then the thread exits and the poller closes.
    /// Does not wait; see `join()`.
    func requestShutdown() {
        shutdownRequested.store(true, ordering: .sequentiallyConsistent)
        wakePoller()
    }

    func beginStopping() {
        stopping = true
        for pd in cache.all where pd.locked.locked({ $0.fd >= 0 }) {
            pd.evict()
        }
        timers.removeAll()
    }

    func finish() {
        // From here on, senders run their work themselves (see sendRemote).
        let leftover = remote.locked { r in
            r.stopped = true
            let w = r.work
            r.work.removeAll()
            return w
        }
        for work in runQueue + leftover {
            switch work {
            case .job(let j), .isolatedJob(let j): globalConcurrentExecutor.enqueue(ExecutorJob(j))
            case .closure(let body): body()
            case .recycle(let bid): poller?.recycle(buffer: bid)
            }
        }
        runQueue.removeAll()
        if let poller { publishPollerCounters(poller) }
        poller?.contract.close()
        // PollDescs still held by open FDs keep this loop alive (PollDesc.loop is a
        // strong reference); dropping the cache breaks the loop → cache → PollDesc
        // cycle so a finished loop is freed with its last descriptor.
        cache = PollCache()
        cnp_set_current_loop(nil)
    }

    /// Waits for the loop thread to exit. Never call it on the loop itself.
    func join() {
        precondition(!inEventLoop, "netpoll: EventLoop.join on its own thread")
        if let t = thread {
            pthread_join(t, nil)
            thread = nil
        }
    }
}
