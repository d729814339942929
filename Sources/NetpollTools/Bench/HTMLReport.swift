/// `netpoll bench --report FILE.html`: one self-contained page with the run's
/// charts (inline SVG), its full table, and the machine it ran on. No script, no
/// font, no stylesheet and no image is fetched when it is viewed: the file holds
/// no URL at all, so it can be mailed, archived and opened offline as it is.
public struct HTMLReport {
    public let report: BenchReport
    /// The machine and kernel, as the caller found them ("kernel", "Linux 6.18 x86_64").
    public let machine: [(String, String)]
    /// When the run happened, as the page shows it.
    public let generated: String

    public init(report: BenchReport, machine: [(String, String)], generated: String) {
        self.report = report
        self.machine = machine
        self.generated = generated
    }

    public func html() -> String {
        let charts = ReportCharts(report: report)
        var page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            + "<title>netpoll bench \(escapeMarkup(generated))</title><style>\(Self.css)</style></head><body>\n"
        page += header() + headlines()
        for section in charts.sections {
            page += "<section class=\"scenario\" id=\"\(section.scenario.rawValue)\"><h2>\(escapeMarkup(section.heading))</h2><div class=\"charts\">\n"
            for chart in section.charts {
                page += "<figure class=\"chart\" id=\"chart-\(chart.id)\" data-chart=\"\(chart.id)\">"
                    + "<figcaption><b>\(escapeMarkup(chart.title))</b></figcaption>\(chart.svg)"
                    + "<p class=\"note\">\(escapeMarkup(chart.caption))</p></figure>\n"
            }
            page += "</div></section>\n"
        }
        page += notes() + table() + machineSection()
        page += "</body></html>\n"
        return page
    }

    // MARK: Parts

    private func header() -> String {
        let plan = report.plan
        let servers = plan.servers.enumerated().map { index, server in
            var ran = ""
            // What `auto` (or anything else) turned into, when the server said.
            if let backend = report.rows.first(where: { $0.server == server.name })?.samples.compactMap(\.serverBackend).first,
               backend != server.name {
                ran = " (ran on \(backend))"
            }
            return "<span class=\"series\"><i style=\"background:\(ChartStyle.color(index))\"></i>\(escapeMarkup(server.name))"
                + "\(server.isPeer ? " <small>peer</small>" : "")\(escapeMarkup(ran))</span>"
        }.joined(separator: " ")
        let summary = "medians of \(plan.repeats) run(s) of \(JSONValue.format(plan.durationSeconds)) s after \(JSONValue.format(plan.warmupSeconds)) s warmup per server and cell, "
            + "servers interleaved; ratios against \(plan.baseline)"
        let kernel = machine.first { $0.0 == "kernel" }.map { " · " + escapeMarkup($0.1) } ?? ""
        return "<header><h1>netpoll bench</h1><p class=\"meta\">\(escapeMarkup(generated))\(kernel)</p>"
            + "<p class=\"legend\">\(servers)</p><p class=\"meta\">\(escapeMarkup(summary))</p></header>\n"
    }

    /// The answer first: one line per cell and server against the baseline, each
    /// figure with its range over the rounds and its verdict (`Headlines`).
    private func headlines() -> String {
        let headlines = Headlines(report: report)
        guard !headlines.lines.isEmpty else { return "" }
        var html = "<section id=\"headlines\"><h2>Headlines</h2><table><tbody>"
        for line in headlines.lines {
            html += "<tr data-cell=\"\(escapeMarkup(line.question))\" data-server=\"\(escapeMarkup(line.server))\">"
                + "<td>\(escapeMarkup(line.question))</td><td>\(escapeMarkup("\(line.server) vs \(line.baseline)"))</td>"
            if let failure = line.failure {
                html += "<td colspan=\"2\">\(escapeMarkup("no figures: \(failure)"))</td>"
            } else {
                for metric in line.metrics {
                    guard let comparison = metric.comparison else {
                        html += "<td>\(escapeMarkup(metric.name)) -</td>"
                        continue
                    }
                    let verdict = comparison.verdict.rawValue
                    html += "<td>\(escapeMarkup("\(metric.name) \(RoundComparison.format(comparison.ratio))×"))"
                        + (comparison.rounds > 1 ? " <small>\(escapeMarkup("(\(RoundComparison.format(comparison.lowest))–\(RoundComparison.format(comparison.highest)))"))</small>" : "")
                        + " <span class=\"verdict \(verdict.replacingOccurrences(of: " ", with: "-"))\">\(escapeMarkup(verdict))</span></td>"
                }
            }
            html += "</tr>"
        }
        html += "</tbody></table><p class=\"note\">\(escapeMarkup(Headlines.legend(baseline: headlines.baseline, repeats: headlines.repeats)))</p>"
        let names = Headlines.backendNames(headlines.lines.map(\.server) + [headlines.baseline])
        if !names.isEmpty { html += "<p class=\"note\">\(escapeMarkup(names))</p>" }
        return html + "</section>\n"
    }

    /// Every row a reader should not miss: failures, errors, saturated clients.
    private func notes() -> String {
        let items = report.rows.filter { !$0.notes.isEmpty }.map { row in
            "<li>\(escapeMarkup("\(row.cell.scenario.rawValue) \(ReportCharts.label(row.cell)), \(row.server): \(row.notes.joined(separator: "; "))"))</li>"
        }
        guard !items.isEmpty else { return "" }
        return "<section id=\"notes\"><h2>Notes</h2><ul>\(items.joined())</ul></section>\n"
    }

    /// The same rows as the text table, every figure the charts draw and more.
    private func table() -> String {
        let header = ["scenario", "cell", "server", "req/s", "p50 µs", "p99 µs", "p99.9 µs", "cpu µs/msg", "polls/msg",
                      "syscalls/msg", "vs \(report.plan.baseline)", "rss/conn KiB", "runs ok"]
        var html = "<section id=\"table\"><h2>All figures</h2><table><thead><tr>"
            + header.map { "<th>\(escapeMarkup($0))</th>" }.joined() + "</tr></thead><tbody>"
        func figure(_ value: Double?) -> String { value.map(Figure.text) ?? "-" }
        for row in report.rows {
            let cells = [
                row.cell.scenario.rawValue, ReportCharts.label(row.cell), row.server,
                figure(row.requestsPerSecond), figure(row.p50Micros), figure(row.p99Micros), figure(row.p999Micros),
                figure(row.cpuMicrosPerMessage), figure(row.pollCallsPerMessage), figure(row.syscallsPerMessage),
                row.ratioText, figure(row.rssBytesPerConnection.map { $0 / 1024 }),
                "\(row.samples.filter { $0.failure == nil }.count)/\(row.samples.count)",
            ]
            html += "<tr>" + cells.enumerated().map { index, text in
                index >= 3 ? "<td class=\"num\">\(escapeMarkup(text))</td>" : "<td>\(escapeMarkup(text))</td>"
            }.joined() + "</tr>"
        }
        return html + "</tbody></table></section>\n"
    }

    private func machineSection() -> String {
        let plan = report.plan
        var rows = machine
        rows.append(("bench", "\(plan.repeats) run(s) × \(JSONValue.format(plan.durationSeconds)) s, warmup \(JSONValue.format(plan.warmupSeconds)) s, baseline \(plan.baseline)"))
        for server in plan.servers {
            rows.append(("server \(server.name)", server.arguments.joined(separator: " ")))
        }
        let body = rows.map { "<tr><th>\(escapeMarkup($0.0))</th><td>\(escapeMarkup($0.1))</td></tr>" }.joined()
        return "<section id=\"machine\"><h2>Machine and run</h2><table class=\"kv\">\(body)</table></section>\n"
    }

    /// System fonts only: a font fetched at view time would be a URL in the file.
    static let css = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:16px 20px;max-width:1400px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
        .meta{color:#555;margin:2px 0}.legend{margin:6px 0}.series{margin-right:14px;white-space:nowrap}
        .series i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px}
        .series small{color:#777}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:10px 22px}
        figure.chart{margin:0}figcaption{margin:0 0 4px}
        svg.chart{width:100%;height:auto;display:block}
        svg.chart text{font-size:11px;fill:#333}
        svg.chart .axis line{stroke:#e4e4e4}svg.chart .axis text{fill:#888}
        svg.chart .missing{fill:#a33;font-style:italic}svg.chart .value{fill:#444}svg.chart .ratio{fill:#888}
        .note{color:#666;font-size:12px;margin:3px 0 0}
        table{border-collapse:collapse;font-size:12px}th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
        td.num{text-align:right;font-variant-numeric:tabular-nums}table.kv th{color:#555;font-weight:normal;white-space:nowrap;vertical-align:top}
        table.kv td{word-break:break-all}
        .verdict{font-weight:600}.verdict.win{color:#1a7f37}.verdict.loss{color:#b42318}.verdict.within-noise,.verdict.client-bound,.verdict.too-few-rounds{color:#777;font-weight:normal}
        """
}
