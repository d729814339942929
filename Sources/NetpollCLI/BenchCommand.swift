import ArgumentParser
import Foundation
import NetpollTools

/// `netpoll bench`: both backends (and any peers) against the same load, one
/// table of medians and ratios. The orchestration lives in NetpollTools.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the echo server on each backend (and peer servers) with `netpoll load`.",
        discussion: """
            Each server runs pinned to one CPU, the load client to another; servers are \
            interleaved within each cell (A B A B …). The table shows median requests/s and \
            p99, server CPU, poll calls and syscalls per message, and the ratio to the baseline.
            """
    )

    @Flag(help: "Small smoke run: connections 1,64, size 64, 1 s, warmup 0.5 s, 1 repeat, 1000 idle.")
    var quick = false

    @Option(help: "Our echo-server backends to measure (comma-separated; empty for peers only).")
    var backends: String = "epoll,uring"

    @Option(help: "Connection counts (comma-separated). Default 1,64,512 (quick: 1,64).")
    var connections: String?

    @Option(help: "Message sizes in bytes (comma-separated). Default 64,4096 (quick: 64).")
    var sizes: String?

    @Option(help: "Measured seconds per run. Default 3 (quick: 1).")
    var duration: Double?

    @Option(help: "Warmup seconds per run. Default 1 (quick: 0.5).")
    var warmup: Double?

    @Option(name: .customLong("repeat"), help: "Runs per server and cell; medians are reported. Default 3 (quick: 1).")
    var repeats: Int?

    @Option(help: "EventLoops of our echo-server.")
    var loops: Int = 1

    @Option(help: "Scenarios: echo, churn, idle (comma-separated).")
    var scenarios: String = "echo,churn,idle"

    @Option(help: "Idle connections in the idle scenario. Default 10000 (quick: 1000).")
    var idleConnections: Int?

    @Option(parsing: .singleValue, help: "Extra server NAME=COMMAND (repeatable); `--host 127.0.0.1 --port 0` is appended.")
    var peer: [String] = []

    @Option(help: "Server the ratio column compares against.")
    var baseline: String = "epoll"

    @Option(help: "Also write the rows as a JSON array to this file.")
    var json: String?

    @Option(help: "Also write the rows as CSV to this file.")
    var csv: String?

    func run() throws {
        var plan = quick ? BenchPlan.quick() : BenchPlan()
        do {
            if let connections { plan.connections = try parseIntList(connections, flag: "--connections") }
            if let sizes { plan.sizes = try parseIntList(sizes, flag: "--sizes") }
            if let duration { plan.durationSeconds = duration }
            if let warmup { plan.warmupSeconds = warmup }
            if let repeats { plan.repeats = repeats }
            if let idleConnections { plan.idleConnections = idleConnections }
            plan.scenarios = try parseScenarios(scenarios)
            let backendList = backends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            try plan.addServers(selfPath: currentExecutablePath(), backends: backendList, loops: loops, peers: peer)
            try plan.validate()
        } catch {
            throw ValidationError(error.description)
        }
        if loops < 1 { throw ValidationError("--loops must be ≥ 1") }
        if plan.servers.contains(where: { $0.name == baseline }) {
            plan.baseline = baseline
        } else {
            let fallback = plan.servers[0].name
            if baseline != "epoll" || plan.servers.count > 1 {
                FileHandle.standardError.write(Data("netpoll bench: baseline \(baseline) is not among the servers; using \(fallback)\n".utf8))
            }
            plan.baseline = fallback
        }

        let runner = BenchRunner(plan: plan, selfPath: currentExecutablePath())
        let report = BenchReport(plan: plan, results: runner.run())
        print(report.table())
        do {
            if let json { try report.json().write(toFile: json, atomically: true, encoding: .utf8) }
            if let csv { try report.csv().write(toFile: csv, atomically: true, encoding: .utf8) }
        } catch {
            FileHandle.standardError.write(Data("netpoll bench: cannot write results: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // Failed servers are rows, not a reason to stop; but a bench in which not a
        // single run worked (CI smoke step) must not look like a success.
        if !report.rows.contains(where: { $0.status == "ok" }) {
            FileHandle.standardError.write(Data("netpoll bench: no run succeeded\n".utf8))
            throw ExitCode(1)
        }
    }
}
