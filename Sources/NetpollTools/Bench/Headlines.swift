/// The answer of a bench run, one line per question: each cell, each server
/// against the baseline, on the figures that cell is about (echo: req/s and
/// server CPU per message; churn: connections/s and CPU per connection; idle:
/// memory per connection), each a `RoundComparison` — median per-round ratio,
/// its range, and win/loss only when the rounds do not overlap.
public struct Headlines {
    public struct Metric {
        /// "req/s", "CPU/msg", "memory/conn".
        public let name: String
        /// The key of the same figure in a JSON row ("requests_per_second").
        public let key: String
        /// Nil when no round gave the figure on both sides.
        public let comparison: RoundComparison?
    }

    public struct Line {
        public let cell: BenchPlan.Cell
        public let server: String
        public let baseline: String
        public let metrics: [Metric]
        /// Why there is no figure at all (a server that failed), else nil.
        public let failure: String?

        /// "echo 64 conns × 64 B"
        public var question: String { cell.title }

        /// "req/s 0.98× (0.93–1.04) within noise · CPU/msg 1.01× (0.97–1.05) within noise"
        public var answer: String {
            if let failure { return "no figures: \(failure)" }
            return metrics.map { metric in
                "\(metric.name) " + (metric.comparison?.text ?? "-")
            }.joined(separator: " · ")
        }
    }

    public let baseline: String
    public let repeats: Int
    public let lines: [Line]

    public init(report: BenchReport) {
        let plan = report.plan
        baseline = plan.baseline
        repeats = plan.repeats
        var lines: [Line] = []
        for cell in plan.cells {
            let rows = report.rows.filter { $0.cell == cell }
            guard let base = rows.first(where: { $0.server == plan.baseline }) else { continue }
            for row in rows where row.server != plan.baseline {
                let failure: String? = row.status != "ok" ? row.status
                    : (base.status != "ok" ? "\(plan.baseline) \(base.status)" : nil)
                lines.append(Line(cell: cell, server: row.server, baseline: plan.baseline,
                                  metrics: Self.metrics(row, base), failure: failure))
            }
        }
        self.lines = lines
    }

    /// The figures a cell's question is about, compared round by round.
    static func metrics(_ row: BenchReport.Row, _ base: BenchReport.Row) -> [Metric] {
        func perRound(_ row: BenchReport.Row, _ value: (RunSample) -> Double?) -> [Double?] {
            row.samples.map { $0.failure == nil ? value($0) : nil }
        }
        func compare(_ name: String, _ key: String, _ better: RoundComparison.Better, capped: Bool,
                     _ value: (RunSample) -> Double?) -> Metric {
            Metric(name: name, key: key, comparison: RoundComparison(
                mine: perRound(row, value), baseline: perRound(base, value), better: better,
                mineCapped: capped && row.clientSaturated, baselineCapped: capped && base.clientSaturated))
        }
        switch row.cell.scenario {
        case .echo:
            return [compare("req/s", "requests_per_second", .higher, capped: true, \.requestsPerSecond),
                    compare("CPU/msg", "server_cpu_us_per_message", .lower, capped: false, \.serverCPUMicrosPerMessage)]
        case .churn:
            return [compare("conn/s", "requests_per_second", .higher, capped: true, \.requestsPerSecond),
                    compare("CPU/conn", "server_cpu_us_per_message", .lower, capped: false, \.serverCPUMicrosPerMessage)]
        case .idle:
            return [compare("memory/conn", "server_rss_bytes_per_connection", .lower, capped: false, \.rssBytesPerConnection)]
        case .file:
            return [compare("files/s", "requests_per_second", .higher, capped: true, \.requestsPerSecond),
                    compare("CPU/file", "server_cpu_us_per_message", .lower, capped: false, \.serverCPUMicrosPerMessage)]
        }
    }

    /// The headline block printed after the table: a title, one line per
    /// question, how to read them.
    public func text() -> String {
        guard !lines.isEmpty else { return "" }
        func padded(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        let questionWidth = lines.map(\.question.count).max() ?? 0
        let pairs = lines.map { "\($0.server) vs \($0.baseline):" }
        let pairWidth = pairs.map(\.count).max() ?? 0
        var text = "Headlines (\(repeats) interleaved round\(repeats == 1 ? "" : "s") per server and cell):\n"
        for (line, pair) in zip(lines, pairs) {
            text += padded(line.question, questionWidth) + "  " + padded(pair, pairWidth) + "  " + line.answer + "\n"
        }
        text += Self.legend(baseline: baseline, repeats: repeats)
        let names = Self.backendNames(lines.map(\.server) + [baseline])
        if !names.isEmpty { text += "\n" + names }
        return text
    }

    /// What our backends' short names stand for, for the ones in the lines:
    /// "uring" alone does not tell a newcomer it is readiness through POLL_ADD.
    static func backendNames(_ servers: [String]) -> String {
        let meanings: [(String, String)] = [
            ("epoll", "epoll, edge-triggered"),
            ("uring", "io_uring readiness, multishot POLL_ADD"),
            ("uring-multishot", "io_uring readiness, multishot POLL_ADD"),
            ("uring-oneshot", "io_uring readiness, one-shot POLL_ADD"),
            ("uring-completion", "io_uring completion mode, multishot RECV into a buffer ring"),
            ("auto", "io_uring if the kernel allows it, else epoll"),
        ]
        let present = Set(servers.map { String($0.split(separator: "+", maxSplits: 1).first ?? "") })
        let known = meanings.filter { present.contains($0.0) }
        return known.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
    }

    /// How to read a line, under the lines (text and HTML).
    static func legend(baseline: String, repeats: Int) -> String {
        var legend = "Each figure: median over the rounds of (server ÷ \(baseline) in the same round), "
            + "lowest–highest round in brackets. win or loss (for the server named first: more req/s, "
            + "less CPU or memory) only when its rounds and \(baseline)'s do not overlap; otherwise within noise."
        if repeats < RoundComparison.minimumRounds {
            legend += " A verdict needs ≥ \(RoundComparison.minimumRounds) rounds (--repeat)."
        }
        return legend
    }
}
