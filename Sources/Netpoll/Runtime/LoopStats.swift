import Synchronization

/// A snapshot of one loop's counters (read while it runs; each field is exact, the
/// set is not one atomic cut).
public struct LoopStats: Sendable, Equatable {
    /// poll calls that could block (idle loop) and that could not (busy loop).
    public var pollCallsBlocking: UInt64 = 0
    public var pollCallsNonblocking: UInt64 = 0
    /// Kernel entries by the poller (epoll_wait/pwait2, io_uring_enter, eventfd reads).
    public var pollSyscalls: UInt64 = 0
    /// read/write/accept/connect-style syscalls made by FDs on this loop, and the
    /// close(2) of descriptors that are not closed through an io_uring ring.
    public var ioSyscalls: UInt64 = 0
    /// Readiness events delivered to live descriptors.
    public var events: UInt64 = 0
    /// Events for descriptors closed or reused meanwhile, dropped.
    public var staleEvents: UInt64 = 0
    /// Tasks that parked waiting for readiness.
    public var parks: UInt64 = 0
    /// Readers parked with no task (``Listener/serveOnInput(retireAfter:idleTimeout:_:)``).
    public var dormantParks: UInt64 = 0
    /// Tasks an idle sweep retired from a wait for input (they then parked dormant).
    public var readersRetired: UInt64 = 0
    /// Wakes sent to this loop's poller while it slept.
    public var wakes: UInt64 = 0
    public var timersFired: UInt64 = 0
    public var descriptorsOpen: UInt64 = 0
    public var jobsRun: UInt64 = 0
    /// io_uring polls re-armed (multishot ended, or one-shot mode), RECVs started.
    public var rearms: UInt64 = 0
    /// io_uring completion mode: ring buffers the runtime holds now (queued for a
    /// reader or borrowed by one), RECVs ended by a dry buffer ring (`-ENOBUFS`), and
    /// RECVs stopped at a descriptor's cap.
    public var ringBuffersHeld: UInt64 = 0
    public var receiveStarved: UInt64 = 0
    public var receiveCapped: UInt64 = 0
    /// Connections that landed on this loop: accepted by a listener, dialled out.
    public var connectionsAccepted: UInt64 = 0
    public var connectionsDialed: UInt64 = 0
    /// Reads and writes on this loop's connections that completed (a write of many
    /// chunks is one), and the bytes they moved. Counted by the Net layer's `Conn`.
    public var reads: UInt64 = 0
    public var writes: UInt64 = 0
    public var bytesRead: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    /// Connection operations (read, write, accept, connect) that failed, by kind
    /// (``ErrorKind``).
    public var errorsTimeout: UInt64 = 0
    public var errorsClosed: UInt64 = 0
    public var errorsReset: UInt64 = 0
    public var errorsCancelled: UInt64 = 0
    public var errorsOther: UInt64 = 0

    public init() {}

    /// How a failed connection operation is counted.
    public enum ErrorKind: String, Sendable, CaseIterable {
        /// A deadline passed (``NetpollError/deadlineExceeded``).
        case timeout
        /// The descriptor was closed under the operation (``NetpollError/netClosing``).
        case closed
        /// The peer reset the connection or stopped reading (ECONNRESET, EPIPE, ECONNABORTED).
        case reset
        /// The waiting task was cancelled.
        case cancelled
        /// Anything else (ECONNREFUSED, EMFILE, ...).
        case other
    }

    /// The counter of each ``ErrorKind``.
    public func errors(_ kind: ErrorKind) -> UInt64 {
        switch kind {
        case .timeout: return errorsTimeout
        case .closed: return errorsClosed
        case .reset: return errorsReset
        case .cancelled: return errorsCancelled
        case .other: return errorsOther
        }
    }

    public var pollCalls: UInt64 { pollCallsBlocking + pollCallsNonblocking }
    public var syscalls: UInt64 { pollSyscalls + ioSyscalls + wakes }

    /// Every counter with its JSON name: the one list `+` and `json` work from.
    /// (Key paths are not Sendable; this array is immutable after initialisation.)
    nonisolated(unsafe) static let counters: [(name: String, path: WritableKeyPath<LoopStats, UInt64>)] = [
        ("poll_calls_blocking", \.pollCallsBlocking), ("poll_calls_nonblocking", \.pollCallsNonblocking),
        ("poll_syscalls", \.pollSyscalls), ("io_syscalls", \.ioSyscalls), ("events", \.events),
        ("stale_events", \.staleEvents), ("parks", \.parks),
        ("dormant_parks", \.dormantParks), ("readers_retired", \.readersRetired), ("wakes", \.wakes),
        ("timers_fired", \.timersFired), ("descriptors_open", \.descriptorsOpen),
        ("jobs_run", \.jobsRun), ("rearms", \.rearms), ("ring_buffers_held", \.ringBuffersHeld),
        ("recv_starved", \.receiveStarved), ("recv_capped", \.receiveCapped),
        ("connections_accepted", \.connectionsAccepted), ("connections_dialed", \.connectionsDialed),
        ("reads", \.reads), ("writes", \.writes), ("bytes_read", \.bytesRead), ("bytes_written", \.bytesWritten),
        ("errors_timeout", \.errorsTimeout), ("errors_closed", \.errorsClosed), ("errors_reset", \.errorsReset),
        ("errors_cancelled", \.errorsCancelled), ("errors_other", \.errorsOther),
    ]

    public static func + (a: LoopStats, b: LoopStats) -> LoopStats {
        var s = a
        for c in counters { s[keyPath: c.path] &+= b[keyPath: c.path] }
        return s
    }

    /// Every counter under its snake_case JSON name, the derived totals `poll_calls`
    /// and `syscalls` first: the members of `json`, for a caller that prints them
    /// inside an object of its own (the echo server's exit line).
    public var namedCounters: [(name: String, value: UInt64)] {
        [("poll_calls", pollCalls), ("syscalls", syscalls)]
            + Self.counters.map { ($0.name, self[keyPath: $0.path]) }
    }

    /// One JSON object of `namedCounters`, in their order.
    public var json: String {
        "{" + namedCounters.map { "\"\($0.name)\":\($0.value)" }.joined(separator: ",") + "}"
    }
}

/// The live counters. Most are written only by the loop thread; `parks` and
/// `ioSyscalls` by whichever task uses the loop's descriptors (usually the loop
/// itself). Relaxed: they are statistics, ordering nothing.
final class LoopStatsStorage: Sendable {
    let pollCallsBlocking = Atomic<UInt64>(0)
    let pollCallsNonblocking = Atomic<UInt64>(0)
    let pollSyscalls = Atomic<UInt64>(0)
    let ioSyscalls = Atomic<UInt64>(0)
    let events = Atomic<UInt64>(0)
    let staleEvents = Atomic<UInt64>(0)
    /// Dropped inside the poller (CQEs for removed tokens), published by the loop.
    let pollerStaleEvents = Atomic<UInt64>(0)
    let parks = Atomic<UInt64>(0)
    let dormantParks = Atomic<UInt64>(0)
    let readersRetired = Atomic<UInt64>(0)
    let wakes = Atomic<UInt64>(0)
    let timersFired = Atomic<UInt64>(0)
    let descriptorsOpen = Atomic<UInt64>(0)
    let jobsRun = Atomic<UInt64>(0)
    let rearms = Atomic<UInt64>(0)
    let ringBuffersHeld = Atomic<UInt64>(0)
    let receiveStarved = Atomic<UInt64>(0)
    let receiveCapped = Atomic<UInt64>(0)
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsDialed = Atomic<UInt64>(0)
    let reads = Atomic<UInt64>(0)
    let writes = Atomic<UInt64>(0)
    let bytesRead = Atomic<UInt64>(0)
    let bytesWritten = Atomic<UInt64>(0)
    let errorsTimeout = Atomic<UInt64>(0)
    let errorsClosed = Atomic<UInt64>(0)
    let errorsReset = Atomic<UInt64>(0)
    let errorsCancelled = Atomic<UInt64>(0)
    let errorsOther = Atomic<UInt64>(0)

    var snapshot: LoopStats {
        var s = LoopStats()
        s.pollCallsBlocking = pollCallsBlocking.load(ordering: .relaxed)
        s.pollCallsNonblocking = pollCallsNonblocking.load(ordering: .relaxed)
        s.pollSyscalls = pollSyscalls.load(ordering: .relaxed)
        s.ioSyscalls = ioSyscalls.load(ordering: .relaxed)
        s.events = events.load(ordering: .relaxed)
        s.staleEvents = staleEvents.load(ordering: .relaxed) &+ pollerStaleEvents.load(ordering: .relaxed)
        s.parks = parks.load(ordering: .relaxed)
        s.dormantParks = dormantParks.load(ordering: .relaxed)
        s.readersRetired = readersRetired.load(ordering: .relaxed)
        s.wakes = wakes.load(ordering: .relaxed)
        s.timersFired = timersFired.load(ordering: .relaxed)
        s.descriptorsOpen = descriptorsOpen.load(ordering: .relaxed)
        s.jobsRun = jobsRun.load(ordering: .relaxed)
        s.rearms = rearms.load(ordering: .relaxed)
        s.ringBuffersHeld = ringBuffersHeld.load(ordering: .relaxed)
        s.receiveStarved = receiveStarved.load(ordering: .relaxed)
        s.receiveCapped = receiveCapped.load(ordering: .relaxed)
        s.connectionsAccepted = connectionsAccepted.load(ordering: .relaxed)
        s.connectionsDialed = connectionsDialed.load(ordering: .relaxed)
        s.reads = reads.load(ordering: .relaxed)
        s.writes = writes.load(ordering: .relaxed)
        s.bytesRead = bytesRead.load(ordering: .relaxed)
        s.bytesWritten = bytesWritten.load(ordering: .relaxed)
        s.errorsTimeout = errorsTimeout.load(ordering: .relaxed)
        s.errorsClosed = errorsClosed.load(ordering: .relaxed)
        s.errorsReset = errorsReset.load(ordering: .relaxed)
        s.errorsCancelled = errorsCancelled.load(ordering: .relaxed)
        s.errorsOther = errorsOther.load(ordering: .relaxed)
        return s
    }
}
