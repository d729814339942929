/// What one run (one server, one cell, one repeat) measured.
public struct RunSample: Sendable {
    /// nil when the run worked; otherwise why not ("failed: …", "load failed: …").
    public var failure: String?
    public var requestsPerSecond: Double?
    public var p50Micros: Double?
    public var p99Micros: Double?
    public var p999Micros: Double?
    /// All requests the client completed, warmup included: the divisor of server totals.
    public var requestsTotal: Double?
    public var errors: Int = 0
    public var firstError: String?
    public var clientSaturated = false
    public var clientCPUPercent: Double?
    /// The backend our echo-server reported it ran on (tells what `auto` chose).
    public var serverBackend: String?
    /// Server utime+stime over its whole life up to just before SIGTERM.
    public var serverCPUMicros: Double?
    /// The server's last JSON stats line (our echo-server only).
    public var serverStats: [String: Double] = [:]
    /// The server ignored SIGTERM and had to be killed.
    public var serverKilled = false
    /// Idle scenario: (RSS after opening the idle connections − before) / idle connections open.
    public var rssBytesPerConnection: Double?
    public var idleOpen: Int?

    public init(failure: String? = nil) {
        self.failure = failure
    }

    /// Server figure per client request (nil when either side is unknown).
    public func perMessage(_ serverTotal: Double?) -> Double? {
        guard let serverTotal, let requestsTotal, requestsTotal > 0 else { return nil }
        return serverTotal / requestsTotal
    }

    public var serverCPUMicrosPerMessage: Double? { perMessage(serverCPUMicros) }
    public var pollCallsPerMessage: Double? { perMessage(serverStats["poll_calls"]) }
    public var syscallsPerMessage: Double? { perMessage(serverStats["syscalls"]) }
}
