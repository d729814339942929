import CNetpoll

/// The Swift concurrency runtime reached behind its public API (resume.c): the
/// global-enqueue hook and the running task, read without the retain and release
/// that `withUnsafeCurrentTask` costs. The only Swift code that calls these
/// `cnp_*` functions, so a toolchain that changes or drops one of the runtime
/// symbols under them is met here (see docs/runtime-tricks.md#runtimehooks).
enum RuntimeHooks {
    /// Installs the runtime's global-enqueue hook once per process, chained to one
    /// installed before it; `divert` then receives the next job enqueued on a
    /// thread that set a resume target. False when the runtime has no hook (resumes
    /// then take the global executor's way: slower, as correct).
    static func installResumeHook(_ divert: cnp_divert_fn) -> Bool {
        cnp_install_resume_hook(divert) != 0
    }

    /// Marks (non-nil) or clears the loop the next global enqueue on this thread is
    /// diverted to (see ``LoopResume/resume(_:onto:)``).
    @inline(__always)
    static func setResumeTarget(_ loop: UnsafeMutableRawPointer?) {
        cnp_set_resume_target(loop)
    }

    /// The running task's identity, to compare only (0 outside a task).
    @inline(__always)
    static var currentTaskID: UInt { UInt(bitPattern: cnp_current_task()) }

    /// `Task.isCancelled` with no retain and release of the task (per park).
    @inline(__always)
    static var isCurrentTaskCancelled: Bool { cnp_current_task_is_cancelled() }
}
