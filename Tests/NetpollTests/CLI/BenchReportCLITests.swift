import Foundation
import Testing

extension DescriptorTests {
    /// `netpoll bench --report FILE` end to end: a tiny real bench on both backends
    /// writes a page whose charts hold the run's figures and which names the machine.
    /// (The page's drawing is checked in NetpollToolsTests; this is the wiring.)
    @Suite struct BenchReportCLITests {
        @Test func benchWritesAReportOfItsRun() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("netpoll-bench-report-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let page = directory.appendingPathComponent("run.html").path
            let json = directory.appendingPathComponent("run.json").path

            let run = try NetpollProcess.run(
                ["bench", "--backends", "epoll,uring", "--scenarios", "echo", "--connections", "1", "--sizes", "64",
                 "--duration", "0.2", "--warmup", "0", "--repeat", "1", "--json", json, "--report", page],
                within: .seconds(120))
            #expect(run.status == .exited(0), "netpoll bench: \(run.status); stderr: \(run.stderr)")
            let html = try String(contentsOfFile: page, encoding: .utf8)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])

            #expect(html.contains("<figure class=\"chart\" id=\"chart-echo-throughput\""))
            #expect(html.contains("<figure class=\"chart\" id=\"chart-echo-latency\""))
            #expect(html.contains("<th>kernel</th><td>Linux "))
            // Each server's bar carries the requests/s the JSON reports for it (or says it failed).
            for row in rows {
                let server = try #require(row["backend"] as? String)
                if let rps = row["requests_per_second"] as? Double {
                    let bar = "<rect class=\"bar\" data-series=\"\(server)\" data-group=\"1 conn · 64 B\" data-value=\""
                    let start = try #require(html.range(of: bar), "no bar for \(server)")
                    let value = html[start.upperBound...].prefix { $0 != "\"" }
                    // The JSON rounds to 3 decimals; the page keeps every digit.
                    #expect(abs((Double(value) ?? -1) - rps) < 0.01, "\(server): page \(value), JSON \(rps)")
                } else {
                    #expect(html.contains("<text class=\"missing\" data-series=\"\(server)\""), "\(server) neither drawn nor marked failed")
                }
            }
            #expect(rows.contains { $0["backend"] as? String == "epoll" && $0["status"] as? String == "ok" })
        }
    }
}
