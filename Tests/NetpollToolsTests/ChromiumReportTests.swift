import Foundation
import Testing
@testable import NetpollTools

/// The report as a browser draws it: headless Chromium lays the page out, a
/// script added to a copy of the file (the report itself has none) measures every
/// mark, and the measurements must show the run's numbers drawn to scale.
@Suite(.enabled(if: Chromium.path != nil, Chromium.skipReason))
struct ChromiumReportTests {
    /// What the added script reports for one element with a `data-value` (kept as
    /// text there: Foundation's JSON reader rounds the last digit of some doubles).
    struct Mark {
        var chart: String
        var series: String
        var group: String
        var percentile: String?
        var value: Double
        var left: Double
        var width: Double
        var height: Double
        var label: String?
        var labelLeft: Double?
        var labelWidth: Double?
    }

    static let measuringScript = """
        <script>
        const out = {charts: {}, marks: []};
        for (const figure of document.querySelectorAll('figure.chart')) {
          const box = figure.querySelector('svg').getBoundingClientRect();
          out.charts[figure.dataset.chart] = {width: box.width, height: box.height};
        }
        for (const el of document.querySelectorAll('[data-value]')) {
          const figure = el.closest('figure');
          const box = el.getBoundingClientRect();
          const mark = {chart: figure.dataset.chart, series: el.dataset.series, group: el.dataset.group,
                        percentile: el.dataset.percentile || null, value: el.dataset.value,
                        left: box.left, width: box.width, height: box.height};
          for (const text of figure.querySelectorAll('text.value')) {
            if (text.dataset.series === mark.series && text.dataset.group === mark.group) {
              const textBox = text.getBoundingClientRect();
              mark.label = text.textContent; mark.labelLeft = textBox.left; mark.labelWidth = textBox.width;
            }
          }
          out.marks.push(mark);
        }
        const pre = document.createElement('pre');
        pre.id = 'measured';
        pre.textContent = JSON.stringify(out);
        document.body.appendChild(pre);
        </script>
        """

    @Test func everyChartIsDrawnWithTheRunsNumbers() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = try ReportFixture.report()
        let html = HTMLReport(report: report, machine: ReportFixture.machine, generated: "2026-11-29 10:40 UTC").html()
        let page = directory.appendingPathComponent("measured.html")
        try html.replacingOccurrences(of: "</body>", with: Self.measuringScript + "</body>").write(to: page, atomically: true, encoding: .utf8)

        let dom = try Chromium.run(["--window-size=1200,1600", "--dump-dom", page.absoluteString], in: directory)
        let (charts, marks) = try Self.measurements(dom)

        for id in ReportFixture.chartIDs {
            let size = try #require(charts[id], "chart \(id) not in the drawn page")
            #expect(size.width > 300 && size.height > 50, "chart \(id) drawn \(size.width)x\(size.height)")
        }

        let label = ReportCharts(report: report).label
        let barCharts: [(String, BenchPlan.Scenario, (BenchReport.Row) -> Double?)] = [
            ("echo-throughput", .echo, \.requestsPerSecond), ("echo-cpu", .echo, \.cpuMicrosPerMessage),
            ("echo-syscalls", .echo, \.syscallsPerMessage), ("churn-throughput", .churn, \.requestsPerSecond),
            ("churn-cpu", .churn, \.cpuMicrosPerMessage), ("churn-syscalls", .churn, \.syscallsPerMessage),
            ("idle-rss", .idle, { $0.rssBytesPerConnection.map { $0 / 1024 } }),
        ]
        for (id, scenario, value) in barCharts {
            let drawn = marks.filter { $0.chart == id }
            let rows = report.rows.filter { $0.cell.scenario == scenario && value($0) != nil }
            #expect(drawn.count == rows.count, "\(id): \(drawn.count) bars drawn for \(rows.count) figures")
            for row in rows {
                let expected = try #require(value(row))
                let bar = try #require(drawn.first { $0.series == row.server && $0.group == label(row.cell) }, "\(id) \(row.server) \(label(row.cell)) not drawn")
                #expect(bar.value == expected)
                #expect(bar.width > 1 && bar.height > 5, "\(id) \(row.server): bar \(bar.width)x\(bar.height)")
                // The figure is printed beside the bar's end, in a font that rendered.
                #expect(bar.label?.hasPrefix(Figure.text(expected)) == true, "\(id) \(row.server): label \(bar.label ?? "none")")
                #expect((bar.labelWidth ?? 0) > 10)
                #expect((bar.labelLeft ?? 0) >= bar.left + bar.width - 1)
            }
            // Drawn to one scale: on-screen length per unit is the same for every bar.
            let perUnit = drawn.map { $0.width / $0.value }
            if let low = perUnit.min(), let high = perUnit.max() {
                #expect(high - low <= low * 0.02 + 1.5 / (drawn.map(\.value).min() ?? 1), "\(id): \(low)...\(high) px per unit")
            }
        }

        for id in ["echo-latency", "churn-latency"] {
            let scenario: BenchPlan.Scenario = id.hasPrefix("echo") ? .echo : .churn
            let drawn = marks.filter { $0.chart == id }
            for row in report.rows where row.cell.scenario == scenario && row.p50Micros != nil {
                func mark(_ percentile: String) -> Mark? {
                    drawn.first { $0.series == row.server && $0.group == label(row.cell) && $0.percentile == percentile }
                }
                let p50 = try #require(mark("p50")), p99 = try #require(mark("p99")), p999 = try #require(mark("p99.9"))
                #expect(p50.value == row.p50Micros && p99.value == row.p99Micros && p999.value == row.p999Micros)
                #expect([p50, p99, p999].allSatisfy { $0.width > 4 && $0.height > 4 })
                let centers = [p50, p99, p999].map { $0.left + $0.width / 2 }
                #expect(centers[0] < centers[1] && centers[1] < centers[2], "\(id) \(row.server): \(centers)")
            }
        }
    }

    /// The screenshot is the picture a reader sees: a 1200x1600 PNG with far more
    /// in it than an empty page of the same size.
    @Test func screenshotHoldsThePicture() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("report.html")
        try ReportFixture.html().write(to: page, atomically: true, encoding: .utf8)
        let empty = directory.appendingPathComponent("empty.html")
        try "<!DOCTYPE html><html><body></body></html>".write(to: empty, atomically: true, encoding: .utf8)

        var sizes: [Int] = []
        for (name, source) in [("report.png", page), ("empty.png", empty)] {
            let png = directory.appendingPathComponent(name)
            _ = try Chromium.run(["--window-size=1200,1600", "--screenshot=\(png.path)", source.absoluteString], in: directory)
            let data = try Data(contentsOf: png)
            let bytes = [UInt8](data.prefix(24))
            #expect(bytes.count == 24 && bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(name) is not a PNG")
            func bigEndian(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
            #expect(bigEndian(16) == 1200 && bigEndian(20) == 1600, "\(name) is \(bigEndian(16))x\(bigEndian(20))")
            sizes.append(data.count)
        }
        #expect(sizes[0] > 8 * sizes[1], "report screenshot \(sizes[0]) bytes, empty page \(sizes[1])")
    }

    // MARK: Helpers

    static func scratchDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("netpoll-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The added script's JSON, out of the DOM Chromium dumped.
    static func measurements(_ dom: String) throws -> ([String: (width: Double, height: Double)], [Mark]) {
        let start = try #require(dom.range(of: "<pre id=\"measured\">"), "the measuring script did not run")
        let end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
        let json = MarkupScan.unescape(String(dom[start.upperBound..<end.lowerBound]))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var charts: [String: (width: Double, height: Double)] = [:]
        for (id, size) in object["charts"] as? [String: [String: Double]] ?? [:] {
            charts[id] = (size["width"] ?? 0, size["height"] ?? 0)
        }
        let marks = (object["marks"] as? [[String: Any]] ?? []).map { mark in
            Mark(chart: mark["chart"] as? String ?? "", series: mark["series"] as? String ?? "", group: mark["group"] as? String ?? "",
                 percentile: mark["percentile"] as? String, value: (mark["value"] as? String).flatMap(Double.init) ?? .nan,
                 left: (mark["left"] as? NSNumber)?.doubleValue ?? 0, width: (mark["width"] as? NSNumber)?.doubleValue ?? 0,
                 height: (mark["height"] as? NSNumber)?.doubleValue ?? 0, label: mark["label"] as? String,
                 labelLeft: (mark["labelLeft"] as? NSNumber)?.doubleValue, labelWidth: (mark["labelWidth"] as? NSNumber)?.doubleValue)
        }
        return (charts, marks)
    }
}
