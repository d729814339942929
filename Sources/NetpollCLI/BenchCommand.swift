import ArgumentParser
import Foundation
import Netpoll
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
            p99, server CPU, poll calls and syscalls per message, and the ratio to the baseline; \
            the headlines under it compare each server with the baseline round by round, and \
            call a difference a win or a loss only when the rounds do not overlap.

            Default: echo at 64 and 512 connections × 64 B and 4 KiB, churn at 64 × 64 B, \
            10,000 idle connections; 5 rounds of 1 s after 0.5 s warmup: 90 runs, about 3½ minutes \
            on 2 cores (the run prints its own estimate). \
            --full: echo and churn at 1, 64 and 512 connections × 64 B and 4 KiB, 3 rounds of \
            3 s after 1 s warmup. Any option below overrides the profile's value.
            """
    )

    @Flag(help: "Small smoke run: connections 1,64, size 64, 1 s, warmup 0.5 s, 1 repeat, 1000 idle.")
    var quick = false

    @Flag(help: "The complete matrix: echo and churn at connections 1,64,512 × sizes 64,4096, 3 s, warmup 1 s, 3 repeats.")
    var full = false

    @Option(help: "Our echo-server backends to measure: epoll, uring or uring-multishot (multishot POLL_ADD), uring-oneshot, uring-completion, auto (comma-separated; empty for peers only); an io_uring one may add its optional features after `+` (uring-completion+accept+min-wait, uring+none: NETPOLL_URING_FEATURES for that server). Default epoll,uring,uring-completion.",
            transform: { text in _ = try OptionRules.backendList(text); return text })
    var backends: String = "epoll,uring,uring-completion"

    @Option(help: "Connection counts (comma-separated), each 1...\(LoadOptions.maxConnections), for echo and churn. Default 64,512 and churn 64 (full: 1,64,512; quick: 1,64).",
            transform: OptionRules.countList(BenchCommand.connectionsRule))
    var connections: [Int]?

    @Option(help: "Message sizes in bytes (comma-separated), each \(LoadOptions.sizeRule.range), for echo and churn. Default 64,4096 and churn 64 (full: 64,4096; quick: 64).",
            transform: OptionRules.countList(LoadOptions.sizeRule))
    var sizes: [Int]?

    @Option(parsing: .unconditional, help: "Measured seconds per run. Default 1 (full: 3, quick: 1).", transform: OptionRules.number(LoadOptions.durationRule))
    var duration: Double?

    @Option(parsing: .unconditional, help: "Warmup seconds per run. Default 0.5 (full: 1, quick: 0.5).", transform: OptionRules.number(LoadOptions.warmupRule))
    var warmup: Double?

    @Option(name: .customLong("repeat"), parsing: .unconditional,
            help: "Interleaved rounds: runs per server and cell, \(OptionRules.repeats); medians are reported, and a verdict needs \(RoundComparison.minimumRounds). Default 5 (full: 3, quick: 1).",
            transform: OptionRules.wholeNumber(OptionRules.repeats))
    var repeats: Int?

    @Option(parsing: .unconditional, help: "EventLoops of our echo-server, 1...\(Settings.maxLoops). Default 1.", transform: OptionRules.loops)
    var loops: Int = 1

    @Option(help: "Scenarios: echo, churn, idle, file (comma-separated). Default echo,churn,idle; file (write vs sendfile of --file-sizes bytes per request, our servers only) is opt-in.",
            transform: BenchCommand.scenarioList)
    var scenarios: String = "echo,churn,idle"

    @Option(help: "File sizes in bytes for the file scenario (comma-separated), each 1...\(64 << 20). Default 65536,1048576.",
            transform: OptionRules.countList(WholeNumberRule(1...(64 << 20))))
    var fileSizes: [Int]?

    @Option(parsing: .unconditional, help: "Idle connections in the idle scenario, 1...\(LoadOptions.maxConnections). Default 10000 (quick: 1000).",
            transform: OptionRules.count(BenchCommand.connectionsRule))
    var idleConnections: Int?

    @Option(parsing: .singleValue, help: "Extra server NAME=COMMAND (repeatable); `--host 127.0.0.1 --port 0` is appended.")
    var peer: [String] = []

    @Option(help: "Server the ratio column compares against.")
    var baseline: String = "epoll"

    @Option(help: "Also write the rows as a JSON array to this file.")
    var json: String?

    @Option(help: "Also write the rows as CSV to this file.")
    var csv: String?

    @Option(name: .customLong("report"), help: "Also write a self-contained HTML page with charts of the run (and the machine it ran on) to this file.")
    var reportPath: String?

    /// A bench's connection counts (and idle connections) are `netpoll load`'s, at least 1.
    static let connectionsRule = WholeNumberRule(1...LoadOptions.maxConnections)

    static let scenarioList: OptionRules.Parse<String> = { text in
        let scenarios: [BenchPlan.Scenario]
        do throws(BenchError) { scenarios = try parseScenarios(text) } catch {
            throw OptionRules.NotAllowed(description: error.description)
        }
        if scenarios.isEmpty {
            let valid = BenchPlan.Scenario.allCases.map(\.rawValue).joined(separator: ", ")
            throw OptionRules.NotAllowed(description: "must name at least one of \(valid)")
        }
        return text
    }

    /// "2026-11-29 10:40 UTC".
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full are two different runs: give one") }
    }

    func run() throws {
        var plan = quick ? BenchPlan.quick() : (full ? BenchPlan.full() : BenchPlan.standard())
        do {
            // Named on the command line: churn measures the same cells as echo.
            if let connections { plan.connections = connections; plan.churnConnections = nil }
            if let sizes { plan.sizes = sizes; plan.churnSizes = nil }
            if let duration { plan.durationSeconds = duration }
            if let warmup { plan.warmupSeconds = warmup }
            if let repeats { plan.repeats = repeats }
            if let idleConnections { plan.idleConnections = idleConnections }
            if let fileSizes { plan.fileSizes = fileSizes }
            plan.scenarios = try parseScenarios(scenarios)
            try plan.addServers(selfPath: currentExecutablePath(), backends: try OptionRules.backendList(backends), loops: loops, peers: peer)
            try plan.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        if plan.servers.contains(where: { $0.name == baseline }) {
            plan.baseline = baseline
        } else {
            let fallback = plan.servers[0].name
            if baseline != "epoll" || plan.servers.count > 1 {
                StandardStream.error.line("netpoll bench: baseline \(baseline) is not among the servers; using \(fallback)")
            }
            plan.baseline = fallback
        }

        // Before the run: the load average it reports is what the run started under.
        let machine = reportPath == nil ? [] : MachineReport.collect().benchRows()
        let started = Date()

        let runner = BenchRunner(plan: plan, selfPath: currentExecutablePath())
        let report = BenchReport(plan: plan, results: runner.run())
        StandardStream.output.line(report.table())
        let headlines = Headlines(report: report).text()
        if !headlines.isEmpty { StandardStream.output.line("\n" + headlines) }
        do {
            if let json { try report.json().write(toFile: json, atomically: true, encoding: .utf8) }
            if let csv { try report.csv().write(toFile: csv, atomically: true, encoding: .utf8) }
            if let path = reportPath {
                let page = HTMLReport(report: report, machine: machine, generated: Self.timestamp(started)).html()
                try page.write(toFile: path, atomically: true, encoding: .utf8)
            }
        } catch {
            StandardStream.error.line("netpoll bench: cannot write results: \(error)")
            throw ExitCode(1)
        }
        // Failed servers are rows, not a reason to stop; but a bench in which not a
        // single run worked (CI smoke step) must not look like a success.
        if !report.rows.contains(where: { $0.status == "ok" }) {
            StandardStream.error.line("netpoll bench: no run succeeded")
            throw ExitCode(1)
        }
    }
}
