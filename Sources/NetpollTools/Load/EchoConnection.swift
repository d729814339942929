/// One client connection of a load worker. Lives in the worker's slot array and
/// is mutated in place; its buffers are carved from one allocation made before
/// the run, so echoing a message allocates nothing.
struct EchoConnection {
    enum Phase {
        /// Nonblocking connect in flight (always at start; again and again in churn mode).
        case connecting
        /// A message is being sent and/or its echo received.
        case active
        /// Open loop: connected, nothing scheduled yet.
        case waiting
        /// Churn: a connect failed at once; retry after a short pause instead of spinning.
        case backoff
        /// Failed for good (echo mode does not reconnect: errors are the finding).
        case dead
    }

    /// Pattern seed: unique across all workers of a run.
    let index: UInt32
    let sendBuffer: UnsafeMutableRawBufferPointer
    let recvBuffer: UnsafeMutableRawBufferPointer

    var fd: Int32 = -1
    /// Bumped per socket so events fetched for a socket closed earlier in the
    /// same batch (churn) are recognised and dropped.
    var generation: UInt32 = 0
    var phase: Phase = .dead
    var sequence: UInt64 = 0
    var sendOffset = 0
    var recvOffset = 0
    /// When the in-flight message was *meant* to start (ns): actual send time in
    /// closed loop, the schedule's time in open loop, the connect start in churn.
    var startedAt: UInt64 = 0
    /// Open loop: scheduled messages that found this connection busy, and the
    /// schedule index of the oldest of them (the next ones follow every `n`).
    var owed = 0
    var owedFirst: UInt64 = 0
    /// Churn: when a backoff ends.
    var retryAt: UInt64 = 0

    /// Echo: each message gets a fresh pattern. Download: the request is the same
    /// every time, written once.
    let refills: Bool

    init(index: UInt32, sendBuffer: UnsafeMutableRawBufferPointer, recvBuffer: UnsafeMutableRawBufferPointer, refills: Bool = true) {
        self.index = index
        self.sendBuffer = sendBuffer
        self.recvBuffer = recvBuffer
        self.refills = refills
    }

    var token: UInt64 { UInt64(generation) << 32 }

    /// Prepares message `sequence` (fresh pattern, offsets reset) meant to start at `intended`.
    @inline(__always)
    mutating func beginMessage(intendedStart intended: UInt64) {
        sequence &+= 1
        if refills { EchoPattern.fill(sendBuffer, connection: index, sequence: sequence) }
        sendOffset = 0
        recvOffset = 0
        startedAt = intended
        phase = .active
    }
}

/// Failures the client counts (never throws for) during a run.
public enum LoadFailure: Int, CaseIterable, Sendable {
    case connect
    case reset
    case mismatch
    case eof
    case timeout

    public var key: String {
        switch self {
        case .connect: "connect"
        case .reset: "reset"
        case .mismatch: "mismatch"
        case .eof: "eof"
        case .timeout: "timeout"
        }
    }
}
