/// The event loop as an actor: code isolated to it runs on the loop's thread.
///
/// Why this exists beside the loop's `TaskExecutor` conformance: a task with an
/// executor preference pays for it on every executor check. The runtime keeps the
/// preference in the task's status-record list, and `swift_task_switch` (each
/// `await` that returns into a `nonisolated(nonsending)` function hops back to its
/// isolation) and each resume on the generic executor look it up under the task's
/// status-record lock: seven lookups per echo message (six checks, one resume),
/// a visible share of the server's CPU in a profile (see docs/performance-log.md,
/// docs/runtime-tricks.md#loop-isolation).
/// For a task isolated to this actor and with no preference, the checks compare
/// two executor identities and take no lock; when it was parked, LoopResume puts
/// it back on the loop (continuations themselves always resume on the generic
/// executor).
///
/// The library's async functions are `nonisolated(nonsending)` (the package builds
/// with `NonisolatedNonsendingByDefault`), so they stay on this actor when called
/// from it. A `@concurrent` function runs on the global executor, as it would from
/// any actor.
public actor LoopIsolation {
    private let executor: LoopSerialExecutor

    init(_ executor: LoopSerialExecutor) { self.executor = executor }

    /// The loop whose thread this actor runs on.
    public nonisolated var loop: EventLoop { executor.loop }

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }
}

/// The loop's serial executor: a second object beside the `EventLoop` (which is a
/// `TaskExecutor`) because both protocols enqueue through `enqueue(_:)`, and the
/// loop must know which one a job came through to run it with the right
/// isolation (`runSynchronously(on:)` for the serial executor or the task one).
final class LoopSerialExecutor: SerialExecutor, @unchecked Sendable {
    /// Set once in `EventLoop.init`, before the loop can run a job; the loop owns
    /// this object, so the reference does not keep it alive.
    unowned(unsafe) let loop: EventLoop  // see docs/runtime-tricks.md#unowned-unsafe

    init(loop: EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        loop.enqueueIsolated(UnownedJob(job))
    }

    /// Every job on the loop's thread runs one at a time, so code there is isolated
    /// to the loop whichever executor enqueued it (`assumeIsolated` from a loop
    /// callback holds).
    func checkIsolated() {
        precondition(loop.inEventLoop, "netpoll: not on the thread of \(loop)")
    }
}

/// Runs `body` isolated to `isolation`: on its loop's thread, where the
/// library's (nonsending) calls need no executor hop. This is how `serve` and
/// `serveOnInput` run their connection tasks, and how to start a task of your own
/// on a loop without an executor preference (see ``LoopIsolation`` for why):
///
/// ```swift
/// try await withThrowingDiscardingTaskGroup { tasks in
///     for socket in sockets {
///         tasks.addImmediateTask { [isolation = socket.loop.isolation] in
///             try await runIsolated(to: isolation) {
///                 // reads and writes of `socket` here stay on its loop
///             }
///         }
///     }
/// }
/// ```
///
/// Start the task with `addImmediateTask` (or `Task.immediate`): a plain
/// `addTask` closure is not isolated to the actor its group runs on and would
/// start on the global executor, while an immediate task makes its first step
/// (this hop) on the spot, so the task goes straight to the loop's queue. Code
/// already isolated to the same loop can skip even that hop: a closure that uses
/// the enclosing function's `isolated` parameter itself (`_ = isolation` in its
/// body; a capture list entry is a new, non-isolated name) is isolated to it, and
/// an immediate task runs it on the spot, up to its first suspension. `serve`
/// and `serveOnInput` start the connections of the listener's own loop so. Call it
/// at each task start rather than wrapping it in a helper that takes the body, so
/// the body closure stays non-escaping: one closure context per task, not two.
/// Inside `body`, a nonsending function stays on the loop and a `@concurrent`
/// one runs on the global executor.
public func runIsolated<T>(
    to isolation: isolated LoopIsolation, _ body: () async throws -> T
) async rethrows -> T {
    // Not only a check. swiftc 6.3 drops the hop onto `isolation` at the entry of a
    // function whose body only calls a nonsending closure, which then believes it
    // runs isolated (and calls into the library so) on whatever thread called us.
    // A use of the isolation keeps the hop; LoopIsolationTests would catch its loss
    // (see docs/runtime-tricks.md#precondition-isolated).
    isolation.preconditionIsolated()
    return try await body()
}
