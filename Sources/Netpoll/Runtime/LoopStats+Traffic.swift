#if canImport(Glibc)
import Glibc
#endif

/// The connection-level counters (connections, reads, writes, bytes, errors by
/// kind), written by the Net layer's `Conn` and listeners on the connection's own
/// loop. Relaxed, as every counter: statistics order nothing.
extension LoopStatsStorage {
    @inline(__always)
    func noteRead(_ bytes: Int) {
        reads.wrappingAdd(1, ordering: .relaxed)
        bytesRead.wrappingAdd(UInt64(truncatingIfNeeded: bytes), ordering: .relaxed)
    }

    @inline(__always)
    func noteWrite(_ bytes: Int) {
        writes.wrappingAdd(1, ordering: .relaxed)
        bytesWritten.wrappingAdd(UInt64(truncatingIfNeeded: bytes), ordering: .relaxed)
    }

    func noteError(_ error: any Error) {
        switch LoopStats.ErrorKind(classifying: error) {
        case .timeout: errorsTimeout.wrappingAdd(1, ordering: .relaxed)
        case .closed: errorsClosed.wrappingAdd(1, ordering: .relaxed)
        case .reset: errorsReset.wrappingAdd(1, ordering: .relaxed)
        case .cancelled: errorsCancelled.wrappingAdd(1, ordering: .relaxed)
        case .other: errorsOther.wrappingAdd(1, ordering: .relaxed)
        }
    }
}

extension LoopStats.ErrorKind {
    /// The kind an error thrown by a connection operation is counted as.
    public init(classifying error: any Error) {
        switch error {
        case is CancellationError:
            self = .cancelled
        case let e as NetpollError:
            switch e {
            case .deadlineExceeded: self = .timeout
            case .netClosing, .fileClosing: self = .closed
            case .system(_, let errno) where errno == ECONNRESET || errno == EPIPE || errno == ECONNABORTED:
                self = .reset
            default: self = .other
            }
        default:
            self = .other
        }
    }
}
