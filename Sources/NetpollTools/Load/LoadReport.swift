import Foundation

/// What a load run found; printed for people or as one JSON object for the bench.
public struct LoadReport: Sendable {
    public let options: LoadOptions
    public let threads: Int
    public let counters: LoadCounters
    public let latencies: LatencyRecorder
    public let idleOpen: Int
    public let clientCPUPercent: Double

    public var requestsPerSecond: Double { Double(counters.requestsMeasured) / options.durationSeconds }
    /// Both directions: each echoed byte went out and came back.
    /// Payload both ways: the echo and its message, or a download's answer and request.
    public var megabytesPerSecond: Double {
        requestsPerSecond * Double(options.download ? options.size + Download.requestSize : 2 * options.size) / 1e6
    }
    /// ≥ 95% of a core per client thread: the client had no headroom left, so
    /// the req/s it saw is its own limit as much as the server's (a server more
    /// than 5% faster could not have shown it). Not 90%: a client with headroom
    /// spends it sleeping and waking in epoll_wait with fewer events per wait,
    /// and shows 87–92% of its core against a server that is at 99% of its own
    /// (measured against `netpoll echo-server` at 64 and 512 connections; against
    /// the C epoll server, whose CPU per message equals the client's, both sit at 96–99%).
    public static let saturationPercentPerThread = 95.0
    public var clientSaturated: Bool {
        clientCPUPercent >= Self.saturationPercentPerThread * Double(max(threads, 1))
    }

    public func json() -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("target", .string(options.target)),
            ("mode", .string(options.mode == .churn ? "churn" : (options.rate == nil ? "closed" : "open"))),
            ("download", .bool(options.download)),
            ("connections", .int(options.connections)),
            ("size", .int(options.size)),
            ("duration_s", .double(options.durationSeconds)),
            ("warmup_s", .double(options.warmupSeconds)),
            ("threads", .int(threads)),
            ("requests_per_second", .double(requestsPerSecond.rounded())),
            ("requests_total", .int(Int(counters.requestsTotal))),
            ("requests_measured", .int(Int(counters.requestsMeasured))),
            ("mb_per_second", .double(megabytesPerSecond)),
            ("p50_us", .number(latencies.micros(atPercentile: 50))),
            ("p99_us", .number(latencies.micros(atPercentile: 99))),
            ("p999_us", .number(latencies.micros(atPercentile: 99.9))),
            ("max_us", .number(latencies.micros(atPercentile: 100))),
            ("errors", .int(Int(counters.errorTotal))),
        ]
        for failure in LoadFailure.allCases {
            members.append(("errors_\(failure.key)", .int(Int(counters.errors[failure.rawValue]))))
        }
        members += [
            ("first_error", counters.firstError.map { .string($0) } ?? .null),
            ("bytes_verified", .int(Int(counters.bytesVerified))),
            ("client_cpu_percent", .double((clientCPUPercent * 10).rounded() / 10)),
            ("client_saturated", .bool(clientSaturated)),
        ]
        if let rate = options.rate { members.append(("rate", .double(rate))) }
        if options.mode == .churn { members.append(("connections_per_second", .double(requestsPerSecond.rounded()))) }
        if options.idleConnections > 0 {
            members.append(("idle_connections", .int(options.idleConnections)))
            members.append(("idle_open", .int(idleOpen)))
        }
        return .object(members)
    }

    public func humanText() -> String {
        func micros(_ percentile: Double) -> String {
            latencies.micros(atPercentile: percentile).map { String(format: "%.1f µs", $0) } ?? "-"
        }
        var mode = options.mode == .churn ? "churn (connect, echo, close)"
            : options.rate.map { String(format: "open loop at %.0f/s", $0) } ?? "closed loop"
        if options.download { mode += ", download (8-byte requests, \(options.size)-byte answers)" }
        var lines = [
            "target        \(options.target), \(mode)",
            "connections   \(options.connections) × \(options.size) bytes, \(threads) thread(s), "
                + "warmup \(JSONValue.format(options.warmupSeconds)) s, measured \(JSONValue.format(options.durationSeconds)) s",
            String(format: "requests/s    %.0f%@", requestsPerSecond, options.mode == .churn ? " (connections/s)" : ""),
            String(format: "throughput    %.2f MB/s (both directions)", megabytesPerSecond),
            "latency       p50 \(micros(50))   p99 \(micros(99))   p99.9 \(micros(99.9))   max \(micros(100))",
            "requests      \(counters.requestsMeasured) measured, \(counters.requestsTotal) total, \(counters.bytesVerified) bytes verified",
        ]
        if options.idleConnections > 0 {
            lines.append("idle          \(idleOpen) of \(options.idleConnections) connections held open")
        }
        var errorLine = "errors        \(counters.errorTotal)"
        if counters.errorTotal > 0 {
            let parts = LoadFailure.allCases.compactMap { failure -> String? in
                let count = counters.errors[failure.rawValue]
                return count > 0 ? "\(failure.key) \(count)" : nil
            }
            errorLine += " (\(parts.joined(separator: ", ")))"
            if let first = counters.firstError { errorLine += "; first: \(first)" }
        }
        lines.append(errorLine)
        lines.append(String(format: "client CPU    %.1f%%%@", clientCPUPercent,
                            clientSaturated ? " — client saturated: no headroom left, req/s is the client's limit as much as the server's" : ""))
        return lines.joined(separator: "\n")
    }
}
