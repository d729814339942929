@testable import NetpollTools

/// A bench run made up for the report tests: three of our backends (one with a
/// name no code knows), one peer, every scenario, three repeats per cell, a
/// failed server, a saturated client. Figures differ per cell and server, so a
/// chart that draws one row's number under another's label is caught.
enum ReportFixture {
    static let servers = ["epoll", "uring", "uring-completion"]
    static let peer = "c-epoll"

    static func plan(peerName: String = peer) throws -> BenchPlan {
        var plan = BenchPlan()
        plan.connections = [1, 64]
        plan.sizes = [64, 4096]
        plan.repeats = 3
        plan.idleConnections = 1000
        try plan.addServers(selfPath: "/x/netpoll", backends: servers, loops: 1, peers: ["\(peerName)=peers/bin/c-epoll"])
        return plan
    }

    /// Median requests/s of a server in a cell; repeats spread ±10% around it.
    static func requestsPerSecond(_ cell: BenchPlan.Cell, server: Int) -> Double {
        let base: Double = cell.scenario == .churn ? 14_000 : (cell.connections == 1 ? 17_000 : 150_000)
        return base * (1 + 0.07 * Double(server)) * (cell.size == 4096 ? 0.9 : 1)
    }

    static func cpuMicros(_ cell: BenchPlan.Cell, server: Int) -> Double {
        (cell.scenario == .churn ? 40 : (cell.connections == 1 ? 24 : 5.5)) + 0.75 * Double(server)
    }

    static func syscalls(_ cell: BenchPlan.Cell, server: Int) -> Double { 2.0 + 0.5 * Double(server) + (cell.connections == 1 ? 1 : 0) }

    static func percentiles(_ cell: BenchPlan.Cell, server: Int) -> (Double, Double, Double) {
        let p50 = (cell.connections == 1 ? 50 : 400) + 10 * Double(server)
        return (p50, p50 * 3, p50 * 12)
    }

    static func report(peerName: String = peer, peerFailure: String? = nil) throws -> BenchReport {
        let plan = try plan(peerName: peerName)
        var results: [BenchPlan.Cell: [String: [RunSample]]] = [:]
        for cell in plan.cells {
            for (index, server) in plan.servers.enumerated() {
                if server.isPeer, let peerFailure {
                    results[cell, default: [:]][server.name] = Array(repeating: RunSample(failure: peerFailure), count: plan.repeats)
                    continue
                }
                let rps = requestsPerSecond(cell, server: index)
                let (p50, p99, p999) = percentiles(cell, server: index)
                results[cell, default: [:]][server.name] = [0.9, 1.0, 1.1].map { spread in
                    var sample = RunSample()
                    sample.requestsPerSecond = rps * spread
                    sample.p50Micros = p50 * spread
                    sample.p99Micros = p99 * spread
                    sample.p999Micros = p999 * spread
                    sample.requestsTotal = 100_000
                    sample.serverCPUMicros = cpuMicros(cell, server: index) * 100_000 * spread
                    if !server.isPeer {
                        sample.serverStats["syscalls"] = syscalls(cell, server: index) * 100_000 * spread
                        sample.serverBackend = server.name
                    }
                    sample.clientSaturated = cell.connections == 64 && cell.size == 64 && index == 3
                    if cell.scenario == .idle { sample.rssBytesPerConnection = Double(3 + index) * 1024 * spread }
                    return sample
                }
            }
        }
        return BenchReport(plan: plan, results: results)
    }

    static let machine: [(String, String)] = [("kernel", "Linux 6.18.0 x86_64"), ("cpus (affinity)", "2")]

    static func html(peerName: String = peer, peerFailure: String? = nil) throws -> String {
        HTMLReport(report: try report(peerName: peerName, peerFailure: peerFailure), machine: machine,
                   generated: "2026-11-29 10:40 UTC").html()
    }

    /// Chart ids the fixture's report must hold.
    static let chartIDs = ["echo-throughput", "echo-cpu", "echo-latency", "echo-syscalls",
                           "churn-throughput", "churn-cpu", "churn-latency", "churn-syscalls", "idle-rss"]
}
