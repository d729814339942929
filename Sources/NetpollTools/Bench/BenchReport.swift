import Foundation

/// The bench's findings per (cell, server): medians over repeats, per-message
/// server costs, ratio to the baseline — printed as one table, written as JSON/CSV.
public struct BenchReport {
    public struct Row {
        public let cell: BenchPlan.Cell
        public let server: String
        public let samples: [RunSample]
        /// Median requests/s of the baseline server in the same cell.
        public let baselineRequestsPerSecond: Double?
        /// The load client was saturated in a run of the baseline in this cell.
        public let baselineClientSaturated: Bool

        var ok: [RunSample] { samples.filter { $0.failure == nil } }

        public var requestsPerSecond: Double? { median(ok.compactMap(\.requestsPerSecond)) }
        public var p50Micros: Double? { median(ok.compactMap(\.p50Micros)) }
        public var p99Micros: Double? { median(ok.compactMap(\.p99Micros)) }
        public var p999Micros: Double? { median(ok.compactMap(\.p999Micros)) }
        public var cpuMicrosPerMessage: Double? { median(ok.compactMap(\.serverCPUMicrosPerMessage)) }
        public var pollCallsPerMessage: Double? { median(ok.compactMap(\.pollCallsPerMessage)) }
        public var syscallsPerMessage: Double? { median(ok.compactMap(\.syscallsPerMessage)) }
        public var rssBytesPerConnection: Double? { median(ok.compactMap(\.rssBytesPerConnection)) }
        public var errors: Int { ok.reduce(0) { $0 + $1.errors } }
        public var clientSaturated: Bool { ok.contains { $0.clientSaturated } }
        public var serverKilled: Bool { samples.contains { $0.serverKilled } }

        public var ratio: Double? {
            guard let mine = requestsPerSecond, let base = baselineRequestsPerSecond, base > 0 else { return nil }
            return mine / base
        }

        /// What the ratio can say. A saturated client caps req/s (see
        /// `LoadReport.clientSaturated`), so a capped side is a floor, not a measurement.
        public enum RatioReading: String, Sendable {
            /// Neither side was client-bound: a win or a loss as shown.
            case measured
            /// This row was client-bound, or the baseline was and this row came out
            /// ahead of it: the ratio calls nothing a win or a loss.
            case clientBound = "client_bound"
            /// Only the baseline was client-bound and it was still faster: its req/s is
            /// a floor, so this row is behind by at least the ratio shows.
            case atMost = "at_most"
        }

        public var ratioReading: RatioReading? {
            guard let ratio else { return nil }
            if clientSaturated { return .clientBound }
            if baselineClientSaturated { return ratio < 1 ? .atMost : .clientBound }
            return .measured
        }

        /// The ratio as the table shows it: "0.91x", "≈1.02x" (client-bound) or "≤0.85x".
        var ratioText: String {
            guard let ratio, let reading = ratioReading else { return "-" }
            let text = String(format: "%.2fx", ratio)
            switch reading {
            case .measured: return text
            case .clientBound: return "≈" + text
            case .atMost: return "≤" + text
            }
        }

        /// "ok", or the first failure when no repeat worked.
        public var status: String {
            ok.isEmpty ? (samples.first?.failure ?? "failed") : "ok"
        }

        /// Everything a reader should not miss about this row.
        var notes: [String] {
            var notes: [String] = []
            if ok.isEmpty {
                notes.append(status)
                return notes
            }
            let failed = samples.count - ok.count
            if failed > 0 { notes.append("\(failed) of \(samples.count) runs failed: \(samples.first { $0.failure != nil }?.failure ?? "")") }
            if errors > 0 {
                notes.append("errors \(errors)" + (ok.first { $0.firstError != nil }?.firstError.map { ": \($0)" } ?? ""))
            }
            if clientSaturated { notes.append("client saturated") }
            if serverKilled { notes.append("server ignored SIGTERM, killed") }
            return notes
        }
    }

    public let plan: BenchPlan
    public let rows: [Row]

    public init(plan: BenchPlan, results: [BenchPlan.Cell: [String: [RunSample]]]) {
        self.plan = plan
        var rows: [Row] = []
        for cell in plan.cells {
            let byServer = results[cell] ?? [:]
            let baselineSamples = (byServer[plan.baseline] ?? []).filter { $0.failure == nil }
            let baseline = median(baselineSamples.compactMap(\.requestsPerSecond))
            let baselineSaturated = baselineSamples.contains { $0.clientSaturated }
            for server in plan.servers(for: cell) {
                rows.append(Row(cell: cell, server: server.name, samples: byServer[server.name] ?? [],
                                baselineRequestsPerSecond: baseline, baselineClientSaturated: baselineSaturated))
            }
        }
        self.rows = rows
    }

    // MARK: Table

    public func table() -> String {
        let header = ["scenario", "conns", "size", "server", "req/s", "p99 µs", "cpu µs/msg", "polls/msg",
                      "syscalls/msg", "vs \(plan.baseline)", "rss/conn", "notes"]
        var table = Table(header: header)
        table.rightAligned = [1, 2, 4, 5, 6, 7, 8, 9, 10]
        var previous: BenchPlan.Cell?
        for row in rows {
            let first = row.cell != previous
            previous = row.cell
            let conns = row.cell.scenario == .idle ? "\(row.cell.idleConnections) idle" : String(row.cell.connections)
            var notes = row.notes
            if let gain = sendfileGain(row) { notes.insert(String(format: "vs write: %.2fx", gain), at: 0) }
            table.add([
                first ? row.cell.label : "",
                first ? conns : "",
                first ? String(row.cell.size) : "",
                row.server,
                show(row.requestsPerSecond, decimals: 0),
                show(row.p99Micros, decimals: 1),
                show(row.cpuMicrosPerMessage, decimals: 2),
                show(row.pollCallsPerMessage, decimals: 2),
                show(row.syscallsPerMessage, decimals: 2),
                row.ratioText,
                row.rssBytesPerConnection.map { String(format: "%.1f KiB", $0 / 1024) } ?? "-",
                notes.joined(separator: "; "),
            ])
        }
        var text = table.rendered()
        text += "\n\nreq/s, p99: medians of \(plan.repeats) run(s) of \(JSONValue.format(plan.durationSeconds)) s "
            + "(churn: connections/s). Per message: server totals / all client requests incl. warmup. "
            + "vs \(plan.baseline): req/s ratio. rss/conn: server VmRSS growth per idle connection."
        if rows.contains(where: { $0.cell.scenario == .file }) {
            text += "\nfile: req/s = files of SIZE bytes sent per second; file/write reads each chunk "
                + "into a buffer and writes it, file/sendfile sends from the page cache; "
                + "vs write: sendfile's req/s over write's, same backend and cell."
        }
        let readings = Set(rows.compactMap(\.ratioReading))
        if readings.contains(.clientBound) || rows.contains(where: \.clientSaturated) {
            text += "\nclient saturated: the load client used ≥ \(JSONValue.format(LoadReport.saturationPercentPerThread))% "
                + "of its core in a run, so req/s is its limit as much as the server's. "
                + "≈: this row or the baseline was client-bound; the ratio is neither a win nor a loss "
                + "(compare cpu µs/msg instead)."
        }
        if readings.contains(.atMost) {
            text += "\n≤: only the baseline was client-bound and it was still faster: behind by at least this much."
        }
        return text
    }

    /// For a file/sendfile row: its req/s over the same server's file/write row.
    public func sendfileGain(_ row: Row) -> Double? {
        guard row.cell.fileSend == .sendfile, let mine = row.requestsPerSecond else { return nil }
        let write = rows.first {
            $0.server == row.server && $0.cell.scenario == .file && $0.cell.fileSend == .write
                && $0.cell.connections == row.cell.connections && $0.cell.size == row.cell.size
        }
        guard let base = write?.requestsPerSecond, base > 0 else { return nil }
        return mine / base
    }

    private func show(_ value: Double?, decimals: Int) -> String {
        guard let value, value.isFinite else { return "-" }
        return String(format: "%.\(decimals)f", value)
    }

    // MARK: JSON and CSV

    func rowObject(_ row: Row) -> [(String, JSONValue)] {
        [
            ("scenario", .string(row.cell.scenario.rawValue)),
            ("backend", .string(row.server)),
            ("connections", .int(row.cell.connections)),
            ("size", .int(row.cell.size)),
            ("idle_connections", .int(row.cell.idleConnections)),
            ("file_send", row.cell.fileSend.map { .string($0.rawValue) } ?? .null),
            ("sendfile_vs_write", .number(sendfileGain(row))),
            ("status", .string(row.status)),
            ("requests_per_second", .number(row.requestsPerSecond)),
            ("p50_us", .number(row.p50Micros)),
            ("p99_us", .number(row.p99Micros)),
            ("p999_us", .number(row.p999Micros)),
            ("server_cpu_us_per_message", .number(row.cpuMicrosPerMessage)),
            ("poll_calls_per_message", .number(row.pollCallsPerMessage)),
            ("syscalls_per_message", .number(row.syscallsPerMessage)),
            ("server_rss_bytes_per_connection", .number(row.rssBytesPerConnection)),
            ("baseline", .string(plan.baseline)),
            ("ratio_vs_baseline", .number(row.ratio)),
            ("ratio_reading", row.ratioReading.map { .string($0.rawValue) } ?? .null),
            ("repeats", .int(row.samples.count)),
            ("repeats_ok", .int(row.ok.count)),
            ("errors", .int(row.errors)),
            ("client_saturated", .bool(row.clientSaturated)),
            ("server_killed", .bool(row.serverKilled)),
            ("duration_s", .double(plan.durationSeconds)),
            ("warmup_s", .double(plan.warmupSeconds)),
        ]
    }

    public func json() -> String {
        let headlines = Headlines(report: self).lines
        let objects: [JSONValue] = rows.map { row in
            var members = rowObject(row)
            if let line = headlines.first(where: { $0.cell == row.cell && $0.server == row.server }) {
                members.append(("headline", .string("\(line.question)  \(line.server) vs \(line.baseline): \(line.answer)")))
                members.append(("vs_baseline", .object(line.metrics.map { ($0.key, comparisonObject($0.comparison)) })))
            }
            members.append(("runs", .array(row.samples.map(runObject))))
            return .object(members)
        }
        return JSONValue.array(objects).serialized() + "\n"
    }

    /// One headline figure: the per-round ratio's median and range, and the verdict.
    private func comparisonObject(_ comparison: RoundComparison?) -> JSONValue {
        guard let comparison else { return .null }
        return .object([
            ("ratio", .double(comparison.ratio)),
            ("lowest", .double(comparison.lowest)),
            ("highest", .double(comparison.highest)),
            ("rounds", .int(comparison.rounds)),
            ("verdict", .string(comparison.verdict.rawValue)),
        ])
    }

    private func runObject(_ sample: RunSample) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("failure", sample.failure.map { .string($0) } ?? .null),
            ("requests_per_second", .number(sample.requestsPerSecond)),
            ("p50_us", .number(sample.p50Micros)),
            ("p99_us", .number(sample.p99Micros)),
            ("p999_us", .number(sample.p999Micros)),
            ("requests_total", .number(sample.requestsTotal)),
            ("errors", .int(sample.errors)),
            ("client_saturated", .bool(sample.clientSaturated)),
            ("client_cpu_percent", .number(sample.clientCPUPercent)),
            ("server_backend", sample.serverBackend.map { .string($0) } ?? .null),
            ("server_cpu_us", .number(sample.serverCPUMicros)),
            ("server_cpu_us_per_message", .number(sample.serverCPUMicrosPerMessage)),
            ("server_killed", .bool(sample.serverKilled)),
            ("server_rss_bytes_per_connection", .number(sample.rssBytesPerConnection)),
        ]
        if !sample.serverStats.isEmpty {
            members.append(("server_stats", .object(sample.serverStats.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })))
        }
        return .object(members)
    }

    public func csv() -> String {
        guard let first = rows.first else { return "" }
        let keys = rowObject(first).map(\.0) + ["runs_requests_per_second", "runs_p99_us"]
        var lines = [keys.joined(separator: ",")]
        for row in rows {
            var fields = rowObject(row).map { csvField($0.1) }
            fields.append(csvField(.string(row.samples.map { show($0.requestsPerSecond, decimals: 0) }.joined(separator: ";"))))
            fields.append(csvField(.string(row.samples.map { show($0.p99Micros, decimals: 1) }.joined(separator: ";"))))
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func csvField(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .string(let text):
            let needsQuotes = text.contains(",") || text.contains("\"") || text.contains("\n")
            return needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        default: return value.serialized()
        }
    }
}

/// Median of a list (mean of the middle two for even counts); nil when empty.
public func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
