import Synchronization

/// One cancellation handler for the whole life of a task, instead of one per park.
///
/// Cancelling a parked reader needs a handler that unblocks its PollDesc. Installed
/// with `withTaskCancellationHandler` around every park, it costs a status-record
/// push and pop on the task, and makes the resume's preferred-executor lookup walk
/// past that record: about 250 ns per park and resume on one loop here (the
/// `park-resume` micro-benchmark), where Go pays nothing. A task that parks many
/// times — a connection handler under ``Listener/serve(_:)`` — installs one scope
/// instead: the handler is registered once, and each park only records where it
/// waits (one uncontended lock) so the handler knows what to unblock.
///
/// Why no cancellation is lost (the park side is `PollDesc.block`):
/// - park: set `wait` → record (pd, mode) under the lock → check `Task.isCancelled`
///   → commit `wait → parked`.
/// - cancel: the runtime sets the task's cancelled bit, then runs the handler, which
///   takes the record under the lock and unblocks it without I/O.
/// If the handler takes the lock first, the park's own lock comes after it, so the
/// park's `isCancelled` check sees the bit and does not park. If the park records
/// first, the handler finds the record and unblocks: from `wait` that makes the
/// commit fail (resume at once), from `parked` it resumes the task. A record that
/// is stale by the time it is used (the task has since moved on) unblocks a
/// PollDesc without I/O, which its waiter, if any, treats as a spurious wakeup.
///
/// Only the task that opened the scope uses it: child tasks inherit task-locals,
/// but their cancellation does not run this handler, so ``covering()`` answers nil
/// for them and they keep the per-park handler.
final class ParkScope: Sendable {
    @TaskLocal private static var current: ParkScope?

    private let parked = Mutex<(pd: PollDesc, mode: PollDesc.Mode)?>(nil)
    /// The task that opened the scope (its address, for identity only).
    private let owner: UInt

    private init(owner: UInt) { self.owner = owner }

    /// The scope covering the current task's parks, if it opened one.
    @inline(__always)
    static func covering() -> ParkScope? {
        guard let scope = current else { return nil }
        return currentTaskAddress() == scope.owner ? scope : nil
    }

    @inline(__always)
    private static func currentTaskAddress() -> UInt {
        withUnsafeCurrentTask { task in task.map { unsafeBitCast($0, to: UInt.self) } ?? 0 }
    }

    /// Runs `body` with this task's parks covered by one cancellation handler.
    static func run<R>(_ body: () async throws -> R) async rethrows -> R {
        let scope = ParkScope(owner: currentTaskAddress())
        return try await withTaskCancellationHandler {
            try await $current.withValue(scope) { try await body() }
        } onCancel: {
            scope.cancel()
        }
    }

    @inline(__always)
    func willPark(_ pd: PollDesc, _ mode: PollDesc.Mode) {
        parked.locked { $0 = (pd, mode) }
    }

    @inline(__always)
    func didWake() {
        parked.locked { $0 = nil }
    }

    private func cancel() {
        guard let (pd, mode) = parked.locked({ $0 }) else { return }
        pd.unblock(mode, ioready: false)?.resume()
    }
}
