/// The charts of one bench run, built from the report's rows (medians over
/// repeats). Series come from the plan's servers, in its order: whatever backends
/// and peers ran, each gets a colour; nothing here knows their names.
struct ReportCharts {
    struct Chart {
        /// Stable element id: "echo-throughput", "churn-latency", "idle-rss".
        var id: String
        var title: String
        /// What the figure is and how to read it, under the chart.
        var caption: String
        var svg: String
    }

    /// One scenario's charts, in reading order.
    struct Section {
        var scenario: BenchPlan.Scenario
        var heading: String
        var charts: [Chart]
    }

    let report: BenchReport
    private let rowsByCell: [BenchPlan.Cell: [String: BenchReport.Row]]

    init(report: BenchReport) {
        self.report = report
        var rows: [BenchPlan.Cell: [String: BenchReport.Row]] = [:]
        for row in report.rows { rows[row.cell, default: [:]][row.server] = row }
        rowsByCell = rows
    }

    var seriesNames: [String] { report.plan.servers.map(\.name) }

    var sections: [Section] {
        report.plan.scenarios.map { scenario in
            let cells = report.plan.cells.filter { $0.scenario == scenario }
            switch scenario {
            case .echo:
                return Section(scenario: scenario, heading: "echo: closed loop on long-lived connections", charts: [
                    throughput(cells, id: "echo-throughput", title: "Requests per second", unit: "req/s"),
                    perMessage(cells, id: "echo-cpu", title: "Server CPU per message, µs", unit: "µs CPU/message", \.cpuMicrosPerMessage, fromStats: false),
                    latency(cells, id: "echo-latency", title: "Latency percentiles (request to echo)"),
                    perMessage(cells, id: "echo-syscalls", title: "Server syscalls per message", unit: "syscalls/message", \.syscallsPerMessage, fromStats: true),
                ])
            case .churn:
                return Section(scenario: scenario, heading: "churn: connect, one echo, close, again", charts: [
                    throughput(cells, id: "churn-throughput", title: "Connections per second", unit: "conn/s"),
                    perMessage(cells, id: "churn-cpu", title: "Server CPU per connection, µs", unit: "µs CPU/connection", \.cpuMicrosPerMessage, fromStats: false),
                    latency(cells, id: "churn-latency", title: "Latency percentiles (connect to echo)"),
                    perMessage(cells, id: "churn-syscalls", title: "Server syscalls per connection", unit: "syscalls/connection", \.syscallsPerMessage, fromStats: true),
                ])
            case .idle:
                return Section(scenario: scenario, heading: "idle: many idle connections, one active", charts: [
                    idleMemory(cells),
                ])
            case .file:
                return Section(scenario: scenario, heading: "file: each request answered with a file, by write or sendfile", charts: [
                    throughput(cells, id: "file-throughput", title: "Files per second", unit: "files/s"),
                    perMessage(cells, id: "file-cpu", title: "Server CPU per file, µs", unit: "µs CPU/file", \.cpuMicrosPerMessage, fromStats: false),
                ])
            }
        }
    }

    // MARK: Charts

    private func throughput(_ cells: [BenchPlan.Cell], id: String, title: String, unit: String) -> Chart {
        let groups = cells.map { cell in
            BarChart.Group(label: Self.label(cell), bars: bars(cell) { server, row in
                // The baseline's own 1.00x says nothing; "-" is a ratio that could not be taken.
                let ratio = row.server == report.plan.baseline || row.ratio == nil ? nil : row.ratioText
                let figure = row.requestsPerSecond.map(Figure.text)
                return BarChart.Bar(
                    series: server, value: row.requestsPerSecond,
                    label: figure ?? "", ratio: ratio,
                    missing: missingText(row, stat: false),
                    tooltip: tooltip(row, cell, figure.map { "\($0) \(unit)" + (ratio.map { ", \($0) \(report.plan.baseline)" } ?? "") }),
                    faded: row.clientSaturated)
            })
        }
        let saturated = cells.contains { cell in rowsByCell[cell]?.values.contains { $0.clientSaturated } ?? false }
        var caption = "Median over \(report.plan.repeats) run(s); higher is better. Beside each bar: the ratio to \(report.plan.baseline)."
        if saturated {
            caption += " Faded, dashed bars: the load client was saturated (≥ \(JSONValue.format(LoadReport.saturationPercentPerThread))% of its core),"
                + " so that figure is the client's limit as much as the server's; ≈ ratios are neither a win nor a loss, compare CPU per message."
        }
        let chart = BarChart(title: title, series: seriesNames, groups: groups)
        return Chart(id: id, title: title, caption: caption, svg: chart.svg())
    }

    /// `fromStats`: the figure comes from our echo-server's stats line, which peers do not print.
    private func perMessage(_ cells: [BenchPlan.Cell], id: String, title: String, unit: String,
                            _ value: KeyPath<BenchReport.Row, Double?>, fromStats: Bool) -> Chart {
        let groups = cells.map { cell in
            BarChart.Group(label: Self.label(cell), bars: bars(cell) { server, row in
                let figure = row[keyPath: value]
                return BarChart.Bar(series: server, value: figure, label: figure.map(Figure.text) ?? "",
                                    missing: missingText(row, stat: fromStats),
                                    tooltip: tooltip(row, cell, figure.map { "\(Figure.text($0)) \(unit)" }))
            })
        }
        let caption = fromStats
            ? "From the stats line our echo-server prints at exit, divided by every request the client completed (warmup included); lower is better. Peers print no such line."
            : "Server user+system CPU over its life up to SIGTERM, divided by every request the client completed (warmup included); lower is better."
        let chart = BarChart(title: title, series: seriesNames, groups: groups)
        return Chart(id: id, title: title, caption: caption, svg: chart.svg())
    }

    private func latency(_ cells: [BenchPlan.Cell], id: String, title: String) -> Chart {
        let groups = cells.map { cell in
            LatencyChart.Group(label: Self.label(cell), rows: report.plan.servers.indices.compactMap { server in
                guard let row = rowsByCell[cell]?[report.plan.servers[server].name] else { return nil }
                return LatencyChart.Row(series: server, p50: row.p50Micros, p99: row.p99Micros, p999: row.p999Micros,
                                        missing: missingText(row, stat: false), tooltip: "\(row.server) · \(Self.label(cell))")
            })
        }
        let chart = LatencyChart(title: title, series: seriesNames, groups: groups)
        return Chart(id: id, title: title, caption: "Medians over runs of the client's p50, p99 and p99.9, in µs; log scale, lower is better.",
                     svg: chart.svg())
    }

    private func idleMemory(_ cells: [BenchPlan.Cell]) -> Chart {
        let title = "Server memory per idle connection, KiB"
        let groups = cells.map { cell in
            BarChart.Group(label: Self.label(cell), bars: bars(cell) { server, row in
                let kib = row.rssBytesPerConnection.map { $0 / 1024 }
                return BarChart.Bar(series: server, value: kib, label: kib.map(Figure.text) ?? "", missing: missingText(row, stat: false),
                                    tooltip: tooltip(row, cell, kib.map { "\(Figure.text($0)) KiB per idle connection" }))
            })
        }
        let chart = BarChart(title: title, series: seriesNames, groups: groups)
        return Chart(id: "idle-rss", title: title,
                     caption: "Growth of the server's resident memory (VmRSS) while the idle connections were opened, per connection; lower is better.",
                     svg: chart.svg())
    }

    // MARK: Pieces

    private func bars(_ cell: BenchPlan.Cell, _ make: (Int, BenchReport.Row) -> BarChart.Bar) -> [BarChart.Bar] {
        report.plan.servers.indices.compactMap { server in
            rowsByCell[cell]?[report.plan.servers[server].name].map { make(server, $0) }
        }
    }

    /// "64 conns · 4 KiB", "10,000 idle · 64 B".
    static func label(_ cell: BenchPlan.Cell) -> String {
        let size = Figure.bytes(cell.size)
        switch cell.scenario {
        case .idle: return "\(Figure.grouped(Double(cell.idleConnections))) idle · \(size)"
        case .echo, .churn: return "\(cell.connections) conn\(cell.connections == 1 ? "" : "s") · \(size)"
        case .file:
            return "\(cell.connections) conn\(cell.connections == 1 ? "" : "s") · \(size) · \(cell.fileSend?.rawValue ?? "?")"
        }
    }

    /// Why a row shows no figure: it failed, or a peer that reports no stats.
    private func missingText(_ row: BenchReport.Row, stat: Bool) -> String {
        if row.status != "ok" { return "failed" }
        if stat && report.plan.servers.first(where: { $0.name == row.server })?.isPeer == true { return "n/a (peer)" }
        return "no data"
    }

    private func tooltip(_ row: BenchReport.Row, _ cell: BenchPlan.Cell, _ figure: String? = nil) -> String {
        var text = "\(row.server) · \(cell.scenario.rawValue) \(Self.label(cell))"
        if let figure { text += ": " + figure }
        if !row.notes.isEmpty { text += " (" + row.notes.joined(separator: "; ") + ")" }
        return text
    }
}
