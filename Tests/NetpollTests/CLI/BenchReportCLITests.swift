import Foundation
import Testing

extension SerializedTests {
    /// `netpoll bench --report FILE` end to end: a tiny real bench on both backends
    /// writes a page whose charts hold the run's figures, and headless Chromium
    /// draws every chart with them, to scale. (The renderer's pure parts, escaping
    /// and made-up runs with peers and failures are tested in NetpollToolsTests.)
    /// In ``SerializedTests``: the bench's and the browser's children are processes.
    @Suite struct BenchReportCLITests {
        /// One short real run: its page and its JSON rows.
        struct Run {
            let directory: String
            let page: String
            let html: String
            let rows: [[String: Any]]
        }

        static func bench(_ scenarios: String) throws -> Run {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("netpoll-bench-report-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let page = directory + "/run.html"
            let json = directory + "/run.json"
            let run = try NetpollProcess.run(
                ["bench", "--backends", "epoll,uring", "--scenarios", scenarios, "--connections", "1", "--sizes", "64",
                 "--idle-connections", "50", "--duration", "0.2", "--warmup", "0", "--repeat", "1", "--json", json, "--report", page],
                within: .seconds(120))
            #expect(run.status == .exited(0), "netpoll bench: \(run.status); stderr: \(run.stderr)")
            let html = try #require(readWholeFile(page), "no report written")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])
            #expect(rows.contains { $0["backend"] as? String == "epoll" && $0["status"] as? String == "ok" }, "epoll did not run")
            return Run(directory: directory, page: page, html: html, rows: rows)
        }

        /// The charts a row's figures go to: (chart id, JSON key, scale).
        static func figures(_ scenario: String) -> [(chart: String, key: String, scale: Double)] {
            switch scenario {
            case "idle": return [("idle-rss", "server_rss_bytes_per_connection", 1.0 / 1024)]
            default:
                return [("\(scenario)-throughput", "requests_per_second", 1), ("\(scenario)-cpu", "server_cpu_us_per_message", 1),
                        ("\(scenario)-syscalls", "syscalls_per_message", 1)]
            }
        }

        /// JSON figures keep three decimals; the page keeps every digit.
        static func same(_ page: Double, _ json: Double) -> Bool {
            abs(page - json) <= 0.0006 + abs(json) * 1e-12
        }

        @Test func benchWritesAReportOfItsRun() throws {
            let run = try Self.bench("echo")
            defer { try? FileManager.default.removeItem(atPath: run.directory) }
            for id in ["echo-throughput", "echo-cpu", "echo-latency", "echo-syscalls"] {
                #expect(run.html.contains("<figure class=\"chart\" id=\"chart-\(id)\""), "no chart \(id)")
            }
            #expect(run.html.contains("<th>kernel</th><td>Linux "))
            for row in run.rows {
                let server = try #require(row["backend"] as? String)
                let prefix = "<rect class=\"bar\" data-series=\"\(server)\" data-group=\"1 conn · 64 B\" data-value=\""
                if let rps = row["requests_per_second"] as? Double {
                    let start = try #require(run.html.range(of: prefix), "no bar for \(server)")
                    let value = run.html[start.upperBound...].prefix { $0 != "\"" }
                    #expect(Self.same(Double(value) ?? -1, rps), "\(server): page \(value), JSON \(rps)")
                } else {
                    #expect(run.html.contains("<text class=\"missing\" data-series=\"\(server)\""), "\(server) neither drawn nor marked failed")
                }
            }
        }

        /// Measures, in a copy of the page, every mark that carries a figure; the
        /// report itself has no script.
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
              const mark = {chart: figure.dataset.chart, series: el.dataset.series, percentile: el.dataset.percentile || '',
                            value: el.dataset.value, left: box.left, width: box.width, height: box.height, label: ''};
              for (const text of figure.querySelectorAll('text.value')) {
                if (text.dataset.series === mark.series && text.dataset.group === el.dataset.group) {
                  mark.label = text.firstChild.nodeValue; mark.labelWidth = text.getBoundingClientRect().width;
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

        @Test(.enabled(if: Chromium.path != nil, Chromium.skipReason))
        func chromiumDrawsEveryChartWithTheRunsNumbers() throws {
            let run = try Self.bench("echo,churn,idle")
            defer { try? FileManager.default.removeItem(atPath: run.directory) }
            let measured = run.directory + "/measured.html"
            try run.html.replacingOccurrences(of: "</body>", with: Self.measuringScript + "</body>")
                .write(toFile: measured, atomically: true, encoding: .utf8)
            let dom = try Chromium.run(["--window-size=1200,1600", "--dump-dom", "file://" + measured], in: run.directory)
            let start = try #require(dom.range(of: "<pre id=\"measured\">"), "the measuring script did not run: \(dom.prefix(300))")
            let end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
            let json = String(dom[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            let measurements = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let charts = measurements["charts"] as? [String: [String: Double]] ?? [:]
            let marks = measurements["marks"] as? [[String: Any]] ?? []
            func number(_ mark: [String: Any], _ key: String) -> Double { (mark[key] as? NSNumber)?.doubleValue ?? .nan }
            // data-value stays text in the script: Foundation's JSON reader rounds some doubles.
            func value(_ mark: [String: Any]) -> Double { (mark["value"] as? String).flatMap(Double.init) ?? .nan }

            for id in ["echo-throughput", "echo-cpu", "echo-latency", "echo-syscalls",
                       "churn-throughput", "churn-cpu", "churn-latency", "churn-syscalls", "idle-rss"] {
                let size = try #require(charts[id], "chart \(id) not drawn")
                #expect((size["width"] ?? 0) > 300 && (size["height"] ?? 0) > 50, "chart \(id) drawn \(size)")
            }

            for row in run.rows {
                let server = try #require(row["backend"] as? String), scenario = try #require(row["scenario"] as? String)
                for (chart, key, scale) in Self.figures(scenario) {
                    let drawn = marks.filter { $0["chart"] as? String == chart && $0["series"] as? String == server }
                    guard let figure = (row[key] as? Double).map({ $0 * scale }) else {
                        #expect(drawn.isEmpty, "\(chart) \(server): a bar without a figure")
                        continue
                    }
                    let bar = try #require(drawn.first, "\(chart) \(server): \(figure) not drawn")
                    #expect(Self.same(value(bar), figure), "\(chart) \(server): drawn \(value(bar)), JSON \(figure)")
                    if figure > 0 { #expect(number(bar, "width") > 0.5 && number(bar, "height") > 5, "\(chart) \(server): \(bar)") }
                    // The printed figure, as the reader sees it ("17,503", "5.58").
                    let label = Double((bar["label"] as? String ?? "").replacingOccurrences(of: ",", with: "")) ?? .nan
                    #expect(abs(label - figure) <= abs(figure) * 0.01 + 0.006, "\(chart) \(server): label \(bar["label"] ?? "none") for \(figure)")
                    #expect(number(bar, "labelWidth") > 5)
                }
                if scenario != "idle", let p50 = row["p50_us"] as? Double, let p99 = row["p99_us"] as? Double, let p999 = row["p999_us"] as? Double {
                    let points = marks.filter { $0["chart"] as? String == "\(scenario)-latency" && $0["series"] as? String == server }
                    var centers: [Double] = []
                    for (percentile, figure) in [("p50", p50), ("p99", p99), ("p99.9", p999)] {
                        let point = try #require(points.first { $0["percentile"] as? String == percentile }, "\(scenario) \(server) \(percentile) not drawn")
                        #expect(Self.same(value(point), figure), "\(scenario) \(server) \(percentile): drawn \(value(point)), JSON \(figure)")
                        #expect(number(point, "width") > 4)
                        centers.append(number(point, "left") + number(point, "width") / 2)
                    }
                    // Further right for a larger percentile; level where two are equal.
                    #expect(centers[0] <= centers[1] + 0.5 && centers[1] <= centers[2] + 0.5, "\(scenario) \(server): \(centers)")
                    if p999 > p50 * 1.05 { #expect(centers[2] > centers[0] + 1, "\(scenario) \(server): \(centers)") }
                }
            }

            // One scale per chart: on-screen length per unit is the same for every bar
            // long enough to measure (a fifth of the longest; half a pixel of rounding).
            for id in Set(marks.compactMap { $0["chart"] as? String }) where !id.hasSuffix("-latency") {
                let bars = marks.filter { $0["chart"] as? String == id }
                let top = bars.map(value).max() ?? 0
                let perUnit = bars.filter { value($0) > top * 0.2 }.map { number($0, "width") / value($0) }
                if let low = perUnit.min(), let high = perUnit.max(), top > 0 {
                    #expect(high - low <= low * 0.01 + 0.5 / (top * 0.2), "\(id): \(low)...\(high) px per unit")
                }
            }

            // The screenshot a reader sees: a 1200x1600 PNG with far more in it than an empty page.
            try "<!DOCTYPE html><html><body></body></html>".write(toFile: run.directory + "/empty.html", atomically: true, encoding: .utf8)
            var sizes: [Int] = []
            for name in ["run", "empty"] {
                let png = run.directory + "/\(name).png"
                _ = try Chromium.run(["--window-size=1200,1600", "--screenshot=\(png)", "file://\(run.directory)/\(name).html"], in: run.directory)
                let data = try Data(contentsOf: URL(fileURLWithPath: png))
                let bytes = [UInt8](data.prefix(24))
                #expect(bytes.count == 24 && bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(name).png is not a PNG")
                func bigEndian(_ at: Int) -> Int { bytes.count < at + 4 ? 0 : bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
                #expect(bigEndian(16) == 1200 && bigEndian(20) == 1600, "\(name).png is \(bigEndian(16))x\(bigEndian(20))")
                sizes.append(data.count)
            }
            #expect(sizes[0] > 8 * sizes[1], "report screenshot \(sizes[0]) bytes, empty page \(sizes[1])")
        }
    }
}
