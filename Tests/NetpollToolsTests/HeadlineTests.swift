import Foundation
import Testing
@testable import NetpollTools

/// One headline line per question (cell × server against the baseline), with the
/// figures that cell is about, in the text output, the JSON rows and the HTML page.
@Suite struct HeadlineTests {
    /// Echo 64 × 64 B and 1,000 idle connections, 5 rounds: uring level with
    /// epoll on req/s but one round far behind (the issue's 0.80×), cheaper per
    /// message in every round; uring-completion ahead in every round on req/s,
    /// and its memory per connection twice epoll's.
    static func report() throws -> BenchReport {
        var plan = BenchPlan.standard()
        plan.connections = [64]
        plan.sizes = [64]
        plan.scenarios = [.echo, .idle]
        plan.idleConnections = 1000
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring", "uring-completion"], loops: 1, peers: [])
        #expect(plan.repeats == 5)
        func runs(_ rps: [Double], cpu: [Double], rss: Double = 1024) -> [RunSample] {
            zip(rps, cpu).map { rps, cpu in
                var sample = RunSample()
                sample.requestsPerSecond = rps
                sample.requestsTotal = 100_000
                sample.serverCPUMicros = cpu * 100_000
                sample.rssBytesPerConnection = rss
                return sample
            }
        }
        let echo = plan.cells[0]
        let idle = plan.cells[1]
        return BenchReport(plan: plan, results: [
            echo: [
                "epoll": runs([100_000, 98_000, 101_000, 99_000, 100_000], cpu: [10, 10.2, 9.9, 10.1, 10]),
                "uring": runs([80_000, 99_000, 100_000, 98_500, 101_000], cpu: [9, 9.1, 9.2, 9.0, 9.1]),
                "uring-completion": runs([110_000, 112_000, 109_000, 111_000, 113_000], cpu: [10, 9.8, 10.3, 10.1, 9.9]),
            ],
            idle: [
                "epoll": runs([1, 1, 1, 1, 1], cpu: [1, 1, 1, 1, 1], rss: 700),
                "uring": runs([1, 1, 1, 1, 1], cpu: [1, 1, 1, 1, 1], rss: 700),
                "uring-completion": runs([1, 1, 1, 1, 1], cpu: [1, 1, 1, 1, 1], rss: 1400),
            ],
        ])
    }

    @Test func oneLinePerQuestionWithTheFiguresOfItsCell() throws {
        let headlines = Headlines(report: try Self.report())
        #expect(headlines.lines.map { "\($0.question) | \($0.server)" } == [
            "echo 64 conns × 64 B | uring", "echo 64 conns × 64 B | uring-completion",
            "idle 1,000 conns | uring", "idle 1,000 conns | uring-completion",
        ])
        #expect(headlines.lines.map(\.answer) == [
            "req/s 0.99× (0.80–1.01) within noise · CPU/msg 0.90× (0.89–0.93) win",
            "req/s 1.12× (1.08–1.14) win · CPU/msg 1.00× (0.96–1.04) within noise",
            "memory/conn 1.00× (1.00–1.00) within noise",
            "memory/conn 2.00× (2.00–2.00) loss",
        ])
    }

    @Test func theTextBlockHasATitleTheLinesAndHowToReadThem() throws {
        let text = Headlines(report: try Self.report()).text()
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "Headlines (5 interleaved rounds per server and cell):")
        #expect(lines[1].hasPrefix("echo 64 conns × 64 B  uring vs epoll:  "))
        #expect(lines[1].hasSuffix("req/s 0.99× (0.80–1.01) within noise · CPU/msg 0.90× (0.89–0.93) win"))
        // Aligned: every answer starts in the same column.
        let columns = lines[1...4].compactMap { line in
            (line.range(of: "req/s") ?? line.range(of: "memory/conn")).map { line.distance(from: line.startIndex, to: $0.lowerBound) }
        }
        #expect(columns.count == 4 && Set(columns).count == 1)
        #expect(text.contains("only when its rounds and epoll's do not overlap"))
        #expect(text.contains("uring: io_uring readiness, multishot POLL_ADD"))
        #expect(text.contains("uring-completion: io_uring completion mode"))
        #expect(!text.contains("needs ≥ 3 rounds"))
    }

    /// A failed server is a line that says so, not a line of dashes or no line.
    @Test func aFailedServerSaysWhy() throws {
        var plan = BenchPlan.quick()
        plan.scenarios = [.echo]
        plan.connections = [64]
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring"], loops: 1, peers: [])
        var ok = RunSample()
        ok.requestsPerSecond = 1
        ok.requestsTotal = 1
        let report = BenchReport(plan: plan, results: [plan.cells[0]: [
            "epoll": [ok], "uring": [RunSample(failure: "failed: io_uring_setup: EPERM")],
        ]])
        let headlines = Headlines(report: report)
        #expect(headlines.lines.map(\.answer) == ["no figures: failed: io_uring_setup: EPERM"])
        // One round (--quick): the figures stand, but no verdict, and the legend says why.
        #expect(headlines.text().contains("A verdict needs ≥ 3 rounds (--repeat)."))
    }

    @Test func jsonRowsCarryTheHeadlineAndEachComparison() throws {
        let json = try Self.report().json()
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(rows.count == 6)
        // The baseline's own rows have no comparison.
        #expect(rows[0]["backend"] as? String == "epoll" && rows[0]["vs_baseline"] == nil)
        let completion = rows[2]
        #expect(completion["backend"] as? String == "uring-completion")
        #expect((completion["headline"] as? String)?.hasPrefix("echo 64 conns × 64 B  uring-completion vs epoll: req/s 1.12×") == true)
        let versus = try #require(completion["vs_baseline"] as? [String: Any])
        let rps = try #require(versus["requests_per_second"] as? [String: Any])
        #expect(rps["verdict"] as? String == "win")
        #expect(rps["rounds"] as? Int == 5)
        #expect(abs((rps["lowest"] as? Double ?? 0) - 109.0 / 101) < 0.001)
        let cpu = try #require(versus["server_cpu_us_per_message"] as? [String: Any])
        #expect(cpu["verdict"] as? String == "within noise")
        let idle = try #require(rows[5]["vs_baseline"] as? [String: Any])
        #expect((idle["server_rss_bytes_per_connection"] as? [String: Any])?["verdict"] as? String == "loss")
        // CSV keeps its flat columns: no nested object in a field.
        let csv = try Self.report().csv()
        #expect(!csv.contains("verdict") && !csv.contains("headline"))
    }

    @Test func theHTMLPageOpensWithTheHeadlines() throws {
        let html = HTMLReport(report: try Self.report(), machine: [], generated: "now").html()
        let section = try #require(html.range(of: "<section id=\"headlines\">"))
        let firstChart = try #require(html.range(of: "<section class=\"scenario\""))
        #expect(section.lowerBound < firstChart.lowerBound)
        let rows = MarkupScan.elements("tr", in: String(html[section.lowerBound...]).components(separatedBy: "</section>")[0])
        #expect(rows.map { "\($0["data-cell"] ?? "") | \($0["data-server"] ?? "")" } == [
            "echo 64 conns × 64 B | uring", "echo 64 conns × 64 B | uring-completion",
            "idle 1,000 conns | uring", "idle 1,000 conns | uring-completion",
        ])
        let verdicts = MarkupScan.elements("span", in: html).filter { $0["class"]?.hasPrefix("verdict") == true }.map(\.text)
        #expect(verdicts == ["within noise", "win", "win", "within noise", "within noise", "loss"])
    }
}
