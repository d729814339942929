/// What one `netpoll load` run does. Parsed by the CLI, validated here so the
/// rules live beside the code that depends on them.
public struct LoadOptions: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Each connection echoes messages back to back (or at `rate`).
        case echo
        /// Each worker slot connects, echoes once, closes, again.
        case churn
    }

    public var target: String
    public var connections: Int
    public var size: Int
    public var durationSeconds: Double
    public var warmupSeconds: Double = 1
    /// Total messages per second across all connections; nil = closed loop.
    public var rate: Double?
    public var threads: Int = 1
    public var mode: Mode = .echo
    /// Idle connections held open for the run (idle-scale scenario).
    public var idleConnections: Int = 0
    public var connectTimeoutSeconds: Double = 5

    public init(target: String, connections: Int, size: Int, durationSeconds: Double) {
        self.target = target
        self.connections = connections
        self.size = size
        self.durationSeconds = durationSeconds
    }

    public func validate() throws(LoadError) {
        if connections < 0 || (connections == 0 && idleConnections == 0) {
            throw .badArgument("--connections must be at least 1 (or 0 with --idle)")
        }
        if size < 1 || size > 64 << 20 { throw .badArgument("--size must be in 1...67108864 bytes") }
        if !(durationSeconds > 0) { throw .badArgument("--duration must be > 0 seconds") }
        if !(warmupSeconds >= 0) { throw .badArgument("--warmup must be >= 0 seconds") }
        if let rate, !(rate > 0) { throw .badArgument("--rate must be > 0 messages per second") }
        if threads < 1 || threads > 256 { throw .badArgument("--threads must be in 1...256") }
        if idleConnections < 0 { throw .badArgument("--idle must be >= 0") }
        if mode == .churn && rate != nil { throw .badArgument("--rate is not supported with --churn") }
    }
}
