import Synchronization

// Cancellation of a connection's own task, wired once per connection instead of
// once per park.
//
// `withTaskCancellationHandler` around every park adds and removes a status record
// under the task's status-record lock, and its stdlib frames hop executors on entry,
// on exit and in the operation: four executor checks and two locked record updates
// per message, of the nine checks an echo turn makes. Go has nothing here: a
// goroutine cannot be cancelled.
//
// A task that serves a connection (Listener.serve, serveOnInput) instead installs
// one handler for its whole life, which unblocks both directions of the
// connection's PollDesc, and marks the PollDesc as covered for it. `block` skips
// its own handler when the covering task is the one parking. Every guarantee of the
// per-park handler carries over, because the scope's handler makes the same
// `unblock(ioready: false)`:
// - cancelled before the park: block re-checks `Task.isCancelled` after publishing
//   `wait` (BLOCK_RECHECK), and does not park;
// - cancelled between publishing `wait` and the commit: the unblock moves the word
//   to nil, the commit CAS fails, and the task does not park;
// - cancelled while parked: the unblock takes the continuation and resumes it.
// The handler also wakes a waiter of the other direction, or one from another task;
// that wake has no I/O and no error, so `wait` parks it again (as Go does after any
// wake without readiness).
extension PollDesc {
    /// Runs `body` with the current task's cancellation unblocking this
    /// descriptor's waiters, and with its own parks here skipping a handler of
    /// their own. Only the task that owns the connection opens one, and one at a
    /// time: scopes do not nest.
    func withCancelCover<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async rethrows -> T {
        let me = PollDesc.currentTask
        return try await withTaskCancellationHandler {
            _ = isolation  // keeps the operation on the caller's actor (see block)
            cancelCover.store(me, ordering: .relaxed)
            // Only if still ours: the descriptor may have been closed and its slot
            // reused (reset clears the cover) by the time the body returns. A
            // stale cover could name a later task at the same address, which
            // would then park with no handler.
            defer { _ = cancelCover.compareExchange(expected: me, desired: 0, ordering: .relaxed) }
            return try await body()
        } onCancel: {
            let r = unblock(.read, ioready: false)
            let w = unblock(.write, ioready: false)
            r?.resume()
            w?.resume()
        }
    }

    /// The current task's address (0 outside a task): what `cancelCover` holds.
    @inline(__always)
    static var currentTask: UInt {
        withUnsafeCurrentTask { task in task.map { unsafeBitCast($0, to: UInt.self) } ?? 0 }
    }
}
