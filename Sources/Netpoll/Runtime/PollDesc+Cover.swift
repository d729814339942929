import Synchronization

// Parks that need no cancellation handler of their own.
//
// A task parked in `block` must wake when it is cancelled. The general way is a
// `withTaskCancellationHandler` around each park; per echo message that is a status
// record added and removed under the task's status lock, three task-allocator
// frames and two executor switches: a measurable share of the echo server's CPU
// (see docs/performance-log.md).
//
// The connection tasks of `serve` and `serveOnInput` can be cancelled by one party
// only, their task group, and the server knows each time that happens (the group
// is cancelled by the server itself, or by the cancellation of the server's own
// task, which one handler in the serving task hears). Such a server *covers* each
// connection: it records the connection's task in `coveredTask`, and when the
// group is cancelled it uncovers and wakes the waits of every connection it covers
// (`CoveredWaits`, FD+Cover.swift). A park by the covered task skips the handler.
// Any other task parking on the descriptor — a child task of the handler, a task
// the connection was handed to — can be cancelled by others and keeps its handler.
//
// No wakeup is lost. The waker stores `coveredTask = 0` and then, past a full fence,
// reads the wait word (in its unblock); a park publishes `wait` with a CAS and then
// reads `coveredTask` (sequentially consistent). Either the park sees 0, and installs its handler like
// any other, or its `wait` came before the waker's read of the word, and the unblock
// wakes it (or fails its commit). A woken task that finds itself not cancelled yet
// (the runtime may flag the group's tasks after the server heard of it) parks again,
// now uncovered, with a handler: so the order of flag and wake does not matter.
// The model's steps are unchanged: the waker's unblock is the handler's.
//
// A wake that finds another task parked (one that was not cancelled) is a spurious
// wake: its wait sees no error and no cancellation and parks again.
//
// What this leans on in the runtime: docs/runtime-tricks.md#covered-park.
extension PollDesc {
    /// Whether the running task is the one covered here (after publishing `wait`).
    @inline(__always)
    var coversCurrentTask: Bool {
        let t = coveredTask.load(ordering: .sequentiallyConsistent)
        return t != 0 && t == RuntimeHooks.currentTaskID
    }

    /// The waker's side of the argument above: clears the cover, then wakes both
    /// waits, which see the cancellation or park again with a handler.
    func uncoverAndWake() {
        coveredTask.store(0, ordering: .sequentiallyConsistent)
        // The store before the unblocks' reads of the wait words.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let r = unblock(.read, ioready: false)
        let w = unblock(.write, ioready: false)
        r?.resume()
        w?.resume()
    }
}
