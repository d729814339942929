/// Resuming parked tasks that are isolated to their loop (``LoopIsolation``)
/// straight onto it.
///
/// The runtime resumes every `UnsafeContinuation` on the generic executor, and for
/// a task with no executor preference that is the global one: a pool thread would
/// wake only to hop back to the loop's actor, two thread hand-offs per resume.
/// The runtime's global-enqueue hook (``RuntimeHooks``, resume.c) lets the resumer
/// say where the one job it is about to enqueue belongs. Without the hook (another
/// runtime), resumes take the long way, which is slower but just as correct (see
/// docs/runtime-tricks.md#enqueue-hook).
enum LoopResume {
    /// Installed with the first loop.
    static let hookInstalled: Bool = RuntimeHooks.installResumeHook { loop, job in
        // `job` is the runtime's Job pointer, which is all an UnownedJob holds
        // (see docs/runtime-tricks.md#job-bitcast).
        let job = unsafeBitCast(job.unsafelyUnwrapped, to: UnownedJob.self)
        // See docs/runtime-tricks.md#guaranteed-ref.
        Unmanaged<EventLoop>.fromOpaque(loop.unsafelyUnwrapped)._withUnsafeGuaranteedRef { $0.enqueueIsolated(job) }
    }

    /// Whether a waiter parking with `isolation` is to be resumed straight onto
    /// `loop`: it runs isolated to it, and the hook is in. A pointer compare, for
    /// the per-message park; `target(_:)` below finds the loop for other waits.
    @inline(__always)
    static func runs(_ isolation: (any Actor)?, on loop: EventLoop) -> Bool {
        guard hookInstalled, let isolation else { return false }
        return isolation === loop.isolation
    }

    /// The loop a waiter parking with `isolation` should be resumed onto, when
    /// that is some loop's ``LoopIsolation`` (a dynamic cast: for waits that are
    /// not per message).
    static func target(_ isolation: (any Actor)?) -> Unmanaged<EventLoop>? {
        guard hookInstalled, let isolation = isolation as? LoopIsolation else { return nil }
        return Unmanaged.passUnretained(isolation.loop)
    }

    /// Resumes `c`, onto `loop` when given.
    @inline(__always)
    static func resume(_ c: UnsafeContinuation<Void, Never>, onto loop: Unmanaged<EventLoop>?) {
        guard let loop else { return c.resume() }
        RuntimeHooks.setResumeTarget(loop.toOpaque())
        c.resume()
        // The hook cleared it if the task was enqueued; it was not if the task
        // had not suspended yet (it then goes on by itself).
        RuntimeHooks.setResumeTarget(nil)
    }
}

/// A parked task's continuation and where to resume it (LoopResume): what the
/// library's other waiters (AsyncSemaphore, serveOnInput's hand-out) store.
struct ParkedTask {
    let continuation: UnsafeContinuation<Void, Never>
    let loop: Unmanaged<EventLoop>?  // see docs/runtime-tricks.md#unmanaged

    /// `continuation` of a task parking with `isolation`.
    init(_ continuation: UnsafeContinuation<Void, Never>, isolation: (any Actor)?) {
        self.continuation = continuation
        self.loop = LoopResume.target(isolation)
    }

    func resume() { LoopResume.resume(continuation, onto: loop) }
}
