// One thread that runs every job of the tasks that prefer it: the peer's
// GOMAXPROCS=1. Swift's global executor sizes its pool from the machine's CPUs,
// not from the affinity the bench pins the server to, so without this two
// workers share that one CPU and hand tasks between each other.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, and a stored property's
    // address is not guaranteed stable across inout accesses.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Guarded by `mutex`.
    private var queued: [UnownedJob] = []

    /// Starts the thread; it runs until the process exits (the peer never stops it).
    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<OneThreadExecutor>.fromOpaque(context!).takeRetainedValue().run()
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(started == 0, "pthread_create: \(started)")
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        queued.append(job)
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Takes everything queued under one lock and runs it in order, so a burst
    /// of resumed tasks costs one lock round, not one per job.
    private func run() -> Never {
        let executor = asUnownedTaskExecutor()
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while queued.isEmpty { pthread_cond_wait(wake, mutex) }
            swap(&batch, &queued)
            pthread_mutex_unlock(mutex)
            for job in batch { job.runSynchronously(on: executor) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
