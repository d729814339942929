import Foundation
import Testing
@testable import NetpollTools

/// The bench's HTML report: every chart present, every mark carrying the run's
/// figure, nothing fetched at view time, and outside text escaped.
@Suite struct HTMLReportTests {
    @Test func everyChartIsPresentWithItsTitle() throws {
        let html = try ReportFixture.html()
        for id in ReportFixture.chartIDs {
            let figure = try #require(MarkupScan.figure(id, in: html), "chart \(id) missing")
            #expect(figure.contains("<svg class=\"chart\""), "chart \(id) has no svg")
            #expect(figure.contains("<figcaption>"), "chart \(id) has no caption")
        }
    }

    /// Series come from the plan, not from a list of known backends: a label no
    /// code knows (`uring-completion`) and a peer get their bars like the rest.
    @Test func barsCarryEachRowsMedian() throws {
        let report = try ReportFixture.report()
        let html = HTMLReport(report: report, machine: ReportFixture.machine, generated: "now").html()
                let metrics: [(String, BenchPlan.Scenario, (BenchReport.Row) -> Double?)] = [
            ("echo-throughput", .echo, \.requestsPerSecond), ("echo-cpu", .echo, \.cpuMicrosPerMessage),
            ("echo-syscalls", .echo, \.syscallsPerMessage), ("churn-throughput", .churn, \.requestsPerSecond),
            ("churn-cpu", .churn, \.cpuMicrosPerMessage), ("churn-syscalls", .churn, \.syscallsPerMessage),
            ("idle-rss", .idle, { $0.rssBytesPerConnection.map { $0 / 1024 } }),
        ]
        for (id, scenario, value) in metrics {
            let bars = MarkupScan.elements("rect", in: try #require(MarkupScan.figure(id, in: html)))
                .filter { $0["class"] == "bar" }
            let rows = report.rows.filter { $0.cell.scenario == scenario && value($0) != nil }
            #expect(bars.count == rows.count, "\(id): \(bars.count) bars for \(rows.count) rows with a figure")
            for row in rows {
                let bar = bars.first { $0["data-series"] == row.server && $0["data-group"] == ReportCharts.label(row.cell) }
                #expect(bar?.number("data-value") == value(row), "\(id) \(row.server) \(ReportCharts.label(row.cell))")
                #expect(bar?["title"] == nil)
            }
            // One scale per chart: length is proportional to the figure.
            let perUnit = bars.compactMap { bar in bar.number("width").flatMap { width in bar.number("data-value").map { width / $0 } } }
            #expect(perUnit.count == bars.count)
            if let first = perUnit.first {
                #expect(perUnit.allSatisfy { abs($0 - first) <= first * 0.01 + 0.5 / (bars.compactMap { $0.number("data-value") }.min() ?? 1) }, "\(id) is not drawn to one scale")
            }
        }
        // The medians are the fixture's: the middle of 0.9x, 1x and 1.1x.
        let echo64 = try #require(report.rows.first { $0.cell.scenario == .echo && $0.cell.connections == 64 && $0.cell.size == 64 && $0.server == "uring-completion" })
        let bar = MarkupScan.elements("rect", in: try #require(MarkupScan.figure("echo-throughput", in: html)))
            .first { $0["data-series"] == "uring-completion" && $0["data-group"] == "64 conns · 64 B" }
        #expect(bar?.number("data-value") == ReportFixture.requestsPerSecond(echo64.cell, server: 2))
    }

    @Test func valueLabelsShowTheFigureAndTheRatio() throws {
        let html = try ReportFixture.html()
        let labels = MarkupScan.elements("text", in: try #require(MarkupScan.figure("echo-throughput", in: html)))
            .filter { $0["class"] == "value" && $0["data-group"] == "64 conns · 4 KiB" }
        let byServer = Dictionary(labels.map { ($0["data-series"] ?? "", $0.text) }, uniquingKeysWith: { a, _ in a })
        // 150,000 × 0.9 for epoll; uring is 7% faster: the ratio to epoll beside it.
        #expect(byServer["epoll"] == "135,000")
        #expect(byServer["uring"] == "144,450")
        let ratios = MarkupScan.elements("tspan", in: try #require(MarkupScan.figure("echo-throughput", in: html))).map(\.text)
        // Every row but the baseline's: 4 cells x 3 servers, the peer 21% ahead,
        // except where its client was saturated: there the ratio is neither win nor loss.
        #expect(ratios.count == 12 && ratios.filter { $0 == "1.07x" }.count == 4)
        #expect(ratios.filter { $0 == "1.21x" }.count == 3 && ratios.filter { $0 == "≈1.21x" }.count == 1)
    }

    @Test func latencyMarksSitInPercentileOrder() throws {
        let report = try ReportFixture.report()
        let html = HTMLReport(report: report, machine: [], generated: "now").html()
        let figure = try #require(MarkupScan.figure("echo-latency", in: html))
        let marks = (MarkupScan.elements("circle", in: figure) + MarkupScan.elements("polygon", in: figure)).filter { $0["class"] == "point" }
        let rows = report.rows.filter { $0.cell.scenario == .echo }
        #expect(marks.count == rows.count * 3)
        let label = ReportCharts.label
        for row in rows {
            func mark(_ percentile: String) -> MarkupScan.Element? {
                marks.first { $0["data-series"] == row.server && $0["data-group"] == label(row.cell) && $0["data-percentile"] == percentile }
            }
            #expect(mark("p50")?.number("data-value") == row.p50Micros)
            #expect(mark("p99")?.number("data-value") == row.p99Micros)
            #expect(mark("p99.9")?.number("data-value") == row.p999Micros)
            let p50 = try #require(mark("p50")?.number("cx"))
            let p999 = try #require(mark("p99.9")?.number("cx"))
            let diamond = try #require(mark("p99")?["points"]?.split(separator: " ").first?.split(separator: ",").first.flatMap { Double($0) })
            #expect(p50 < diamond && diamond < p999, "\(row.server) \(label(row.cell)): p50 \(p50), p99 \(diamond), p99.9 \(p999)")
        }
    }

    @Test func failedAndStatlessServersSayWhy() throws {
        let html = try ReportFixture.html(peerFailure: "failed: no 'listening on' line within 10 s")
        let throughput = try #require(MarkupScan.figure("echo-throughput", in: html))
        #expect(!MarkupScan.elements("rect", in: throughput).contains { $0["data-series"] == ReportFixture.peer })
        let missing = MarkupScan.elements("text", in: throughput).filter { $0["class"] == "missing" && $0["data-series"] == ReportFixture.peer }
        #expect(missing.count == 4 && missing.allSatisfy { $0.text == "failed" })
        let reason = html.contains("no &#39;listening on&#39; line within 10 s")
        #expect(reason)

        // A peer that ran prints no stats: "n/a (peer)", not a zero bar.
        let syscalls = try #require(MarkupScan.figure("echo-syscalls", in: try ReportFixture.html()))
        let peer = MarkupScan.elements("text", in: syscalls).filter { $0["data-series"] == ReportFixture.peer }
        #expect(peer.count == 4 && peer.allSatisfy { $0["class"] == "missing" && $0.text == "n/a (peer)" })
    }

    @Test func saturatedClientBarsAreMarked() throws {
        let html = try ReportFixture.html()
        let bars = MarkupScan.elements("rect", in: try #require(MarkupScan.figure("echo-throughput", in: html))).filter { $0["class"] == "bar" }
        let saturated = bars.filter { $0["data-client-saturated"] == "true" }
        #expect(saturated.count == 1)
        #expect(saturated.first?["data-series"] == ReportFixture.peer && saturated.first?["data-group"] == "64 conns · 64 B")
    }

    /// The page must open offline exactly as written: no scripts, stylesheets,
    /// fonts or images from anywhere.
    @Test func nothingIsFetchedAtViewTime() throws {
        let html = try ReportFixture.html()
        let found = ["://", "<script", "<link", "<img", "<iframe", "@import", "url(", "@font-face", "xlink:href", " src="]
            .filter { html.contains($0) }
        #expect(found.isEmpty, "report contains \(found)")
        let isDocument = html.hasPrefix("<!DOCTYPE html>") && html.contains("<meta charset=\"utf-8\">")
        #expect(isDocument)
    }

    @Test func outsideTextIsEscaped() throws {
        let name = "<b>\"x\"&'y'"
        let html = try ReportFixture.html(peerName: name, peerFailure: "failed: </svg><script>alert(1)</script>")
        // Booleans first: a failing #expect would print the whole page.
        let rawName = html.contains("<b>\""), rawScript = html.contains("<script")
        #expect(!rawName && !rawScript)
        let escapedName = html.contains("&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;")
        let escapedFailure = html.contains("&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(escapedName && escapedFailure)
        // Attribute values come back whole through an ordinary reader.
        let missing = MarkupScan.elements("text", in: try #require(MarkupScan.figure("echo-throughput", in: html)))
            .filter { $0["class"] == "missing" }
        #expect(missing.count == 4 && missing.allSatisfy { $0["data-series"] == name })
        #expect(escapeMarkup("a\u{1}b") == "a\u{FFFD}b")
    }

    @Test func theMachineAndEachServersCommandAreShown() throws {
        let html = try ReportFixture.html()
        let machine = try #require(html.range(of: "<section id=\"machine\">").map { String(html[$0.lowerBound...]) })
        #expect(machine.contains("<th>kernel</th><td>Linux 6.18.0 x86_64</td>"))
        #expect(machine.contains("<th>server uring-completion</th><td>/x/netpoll echo-server --backend uring-completion --loops 1 --host 127.0.0.1 --port 0</td>"))
        let header = html.contains("<p class=\"meta\">2026-11-29 10:40 UTC · Linux 6.18.0 x86_64</p>")
        #expect(header)
    }

    @Test func figuresAndAxesReadWell() {
        #expect(Figure.text(179_219.4) == "179,219")
        #expect(Figure.text(24.04) == "24.0")
        #expect(Figure.text(5.583) == "5.58")
        #expect(Figure.text(999.7) == "1,000")
        #expect(Figure.text(.nan) == "-")
        #expect(Figure.bytes(4096) == "4 KiB" && Figure.bytes(64) == "64 B" && Figure.bytes(1500) == "1500 B")
        #expect(Figure.compact(150_000) == "150k" && Figure.compact(1_500_000) == "1.5M" && Figure.compact(2.5) == "2.5")
        #expect(LinearAxis(maximum: 179_219).ticks == [0, 50_000, 100_000, 150_000, 200_000])
        #expect(LinearAxis(maximum: 0).ticks == [0, 1])
        let log = LogAxis(minimum: 48, maximum: 5_300)
        #expect(log.low == 20 && log.high == 10_000)
        #expect(log.ticks == [100, 1000, 10_000])
        #expect(LogAxis(minimum: 48, maximum: 300).ticks == [20, 50, 100, 200, 500])
        #expect(log.fraction(20) == 0 && log.fraction(10_000) == 1)
    }
}
