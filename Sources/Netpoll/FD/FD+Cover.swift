import Synchronization

/// The connections a server covers (PollDesc+Cover.swift): their tasks' parks skip
/// the per-park cancellation handler, because the server calls ``cancel()`` whenever
/// their task group is cancelled. One per `serve` / `serveOnInput` call.
final class CoveredWaits: Sendable {
    private struct State {
        var cancelled = false
        /// Retains each FD, so its identifier is not reused while it is here.
        var fds: [ObjectIdentifier: FD] = [:]
    }
    private let state = Mutex(State())

    /// Covers the running task's parks on `fd`, unless the tasks were cancelled
    /// already (then its parks keep their handlers). Undo with ``uncover(_:)``
    /// before the task ends.
    func cover(_ fd: FD) {
        let task = RuntimeHooks.currentTaskID
        state.locked { s in
            guard !s.cancelled else { return }
            s.fds[ObjectIdentifier(fd)] = fd
            fd.pd.coveredTask.store(task, ordering: .sequentiallyConsistent)
        }
    }

    /// The running task is done with `fd`.
    func uncover(_ fd: FD) {
        // Only our own cover: a descriptor the handler closed may already have its
        // PollDesc reused (reset clears the cover), and another task may cover it.
        _ = fd.pd.coveredTask.compareExchange(
            expected: RuntimeHooks.currentTaskID, desired: 0, ordering: .sequentiallyConsistent)
        state.locked { s in _ = s.fds.removeValue(forKey: ObjectIdentifier(fd)) }
    }

    /// The covered tasks are being cancelled: covers no more, and uncovers and wakes
    /// every covered descriptor's waits, which then see the cancellation (or park
    /// again with a handler of their own, if the runtime has not flagged them yet).
    func cancel() {
        let fds = state.locked { s in
            s.cancelled = true
            let fds = Array(s.fds.values)
            s.fds.removeAll()
            return fds
        }
        for fd in fds {
            // The reference keeps the PollDesc this descriptor's while we touch it;
            // a closing descriptor's waits have ended already.
            guard (try? fd.incref()) != nil else { continue }
            fd.pd.uncoverAndWake()
            fd.decref()
        }
    }
}
