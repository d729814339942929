import Foundation
import Glibc

/// Runs the plan: for each cell, each repeat, each server in turn (A B A B …,
/// so slow drift of the machine spreads over all servers), one server child
/// pinned to one CPU and one `netpoll load` child pinned to another. The order of
/// the servers rotates from one repeat to the next (A B C, B C A, C A B, …), so
/// no server always runs first: the first server of a round measured slower in
/// the churn cell at 1 connection, whichever build it was (docs/benchmarks.md).
public final class BenchRunner {
    private let plan: BenchPlan
    private let selfPath: String
    private let progress: Progress
    private let serverPin: [String]
    private let clientPin: [String]
    /// Servers that could not start: not retried, every later row says why.
    private var startFailures: [String: String] = [:]

    private let startTimeout = nanos(seconds: 10)
    private let stopTimeout = nanos(seconds: 5)

    public init(plan: BenchPlan, selfPath: String) {
        self.plan = plan
        self.selfPath = selfPath
        self.progress = Progress()
        // Idle-scale runs need thousands of descriptors in the servers, which inherit our limit.
        raiseDescriptorLimit()
        let cpus = ProcStats.allowedCPUs()
        if let taskset = ProcStats.findOnPath("taskset"), let first = cpus.first {
            serverPin = [taskset, "-c", String(first)]
            clientPin = cpus.count >= 2 ? [taskset, "-c", String(cpus[1])] : []
            if cpus.count < 2 {
                progress.note("only one CPU available: server and client share it (results are indicative only)")
            }
        } else {
            serverPin = []
            clientPin = []
            progress.note("taskset not found (util-linux): running unpinned, results are noisier")
        }
        // Pinning gives each side a CPU, not the CPU to itself: say when others are busy.
        if let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
           let load = text.split(separator: " ").first.flatMap({ Double($0) }), load >= 1 {
            progress.note(String(format: "load average %.2f on %d CPU(s) before starting: other processes compete, expect noise", load, cpus.count))
        }
    }

    /// All samples, keyed by cell and server name, repeats in order.
    public func run() -> [BenchPlan.Cell: [String: [RunSample]]] {
        var results: [BenchPlan.Cell: [String: [RunSample]]] = [:]
        let cells = plan.cells
        let total = cells.reduce(0) { $0 + plan.servers(for: $1).count } * plan.repeats
        let estimate = TimeEstimate(plan: plan)
        progress.note(Self.planLine(plan, runs: total, estimate: estimate))
        let started = monotonicNanos()
        var step = 0
        for (cellIndex, cell) in cells.enumerated() {
            for repeatIndex in 1...plan.repeats {
                for server in Self.rotated(plan.servers(for: cell), round: repeatIndex - 1) {
                    step += 1
                    progress.status("[\(step)/\(total)] \(describe(cell)) \(server.name) run \(repeatIndex)/\(plan.repeats)")
                    let knownFailure = startFailures[server.name] != nil
                    let sample = runOnce(server: server, cell: cell)
                    if let failure = sample.failure, !knownFailure {
                        progress.note("\(describe(cell)) \(server.name): \(failure)")
                    }
                    results[cell, default: [:]][server.name, default: []].append(sample)
                }
            }
            let elapsed = Double(monotonicNanos() - started) / 1e9
            var line = "cell \(cellIndex + 1)/\(cells.count) done (\(cell.title)): "
                + "\(TimeEstimate.clock(seconds: elapsed)) elapsed"
            if cellIndex + 1 < cells.count {
                line += ", about \(TimeEstimate.text(seconds: estimate.secondsLeft(afterCells: cellIndex + 1, elapsed: elapsed))) left"
            }
            progress.note(line)
        }
        progress.finish()
        return results
    }

    /// "6 cells × 3 servers × 5 rounds = 90 runs of 1 s after 0.5 s warmup: about 3 min 40 s".
    static func planLine(_ plan: BenchPlan, runs: Int, estimate: TimeEstimate) -> String {
        let cells = plan.cells.count
        let servers = plan.servers.count
        return "\(cells) cell\(cells == 1 ? "" : "s") × \(servers) server\(servers == 1 ? "" : "s") × "
            + "\(plan.repeats) round\(plan.repeats == 1 ? "" : "s") = \(runs) run\(runs == 1 ? "" : "s") of "
            + "\(JSONValue.format(plan.durationSeconds)) s after \(JSONValue.format(plan.warmupSeconds)) s warmup: "
            + "about \(TimeEstimate.text(seconds: estimate.totalSeconds))"
    }

    /// The servers in the order of round `round` (from 0): shifted by one each
    /// round, so over as many rounds as servers each runs once in every position.
    static func rotated<T>(_ servers: [T], round: Int) -> [T] {
        guard !servers.isEmpty else { return [] }
        let shift = round % servers.count
        return Array(servers[shift...] + servers[..<shift])
    }

    private func describe(_ cell: BenchPlan.Cell) -> String {
        cell.scenario == .idle
            ? "idle n=\(cell.idleConnections) s=\(cell.size)"
            : "\(cell.label) c=\(cell.connections) s=\(cell.size)"
    }

    // MARK: One run

    private func runOnce(server spec: BenchPlan.Server, cell: BenchPlan.Cell) -> RunSample {
        if let failure = startFailures[spec.name] { return RunSample(failure: failure) }

        let server: ChildProcess
        do {
            var arguments = serverPin + spec.arguments
            if let send = cell.fileSend { arguments += ["--file-size", String(cell.size), "--file-send", send.rawValue] }
            server = try ChildProcess(arguments: arguments)
        } catch {
            let failure = "failed: \(error.description)"
            startFailures[spec.name] = failure
            return RunSample(failure: failure)
        }
        defer { server.forceKill() }

        let target: String
        switch waitForListening(server) {
        case .success(let address):
            target = address
        case .failure(let failure):
            startFailures[spec.name] = failure.text
            return RunSample(failure: failure.text)
        }

        let rssBefore = cell.scenario == .idle ? ProcStats.residentBytes(pid: server.pid) : nil
        var sample = runLoad(target: target, cell: cell, server: server, rssBefore: rssBefore)

        // CPU time just before SIGTERM: what serving cost, not shutting down.
        sample.serverCPUMicros = ProcStats.cpuMicros(pid: server.pid)
        server.signal(SIGTERM)
        if !ChildProcess.pump([server], until: monotonicNanos() + stopTimeout, done: { server.hasExited }) {
            server.forceKill()
            sample.serverKilled = true
            progress.note("\(spec.name) did not exit within 5 s of SIGTERM: killed")
        }
        if !spec.isPeer, let stats = lastStatsLine(server) {
            for key in stats.keys {
                if let value = jsonNumber(stats, key) { sample.serverStats[key] = value }
            }
            sample.serverBackend = stats["backend"] as? String
        }
        return sample
    }

    private struct StartFailure: Error { let text: String }

    /// Waits for the first stdout line, which must be exactly `listening on HOST:PORT`.
    private func waitForListening(_ server: ChildProcess) -> Result<String, StartFailure> {
        let started = ChildProcess.pump([server], until: monotonicNanos() + startTimeout) {
            !server.stdoutLines.isEmpty || server.hasExited
        }
        if let first = server.stdoutLines.first {
            let prefix = "listening on "
            if first.hasPrefix(prefix) {
                var address = String(first.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                // A bare IPv6 host needs brackets to carry a port.
                if let colon = address.lastIndex(of: ":"), address[..<colon].contains(":"), !address.hasPrefix("[") {
                    address = "[\(address[..<colon])]\(address[colon...])"
                }
                return .success(address)
            }
            server.forceKill()
            return .failure(StartFailure(text: "failed: first line was not 'listening on HOST:PORT': \(first.prefix(80))"))
        }
        if !started {
            server.forceKill()
            return .failure(StartFailure(text: "failed: no 'listening on' line within 10 s"))
        }
        _ = ChildProcess.pump([server], until: monotonicNanos() + 200_000_000) { false }  // collect stderr
        let reason = server.stderrLines.first(where: { !$0.isEmpty }).map(String.init) ?? server.endDescription
        return .failure(StartFailure(text: "failed: \(reason)"))
    }

    private func runLoad(target: String, cell: BenchPlan.Cell, server: ChildProcess, rssBefore: Double?) -> RunSample {
        var arguments = clientPin + [
            selfPath, "load", "--json", "--target", target,
            "--connections", String(cell.connections), "--size", String(cell.size),
            "--duration", JSONValue.format(plan.durationSeconds), "--warmup", JSONValue.format(plan.warmupSeconds),
        ]
        switch cell.scenario {
        case .echo: break
        case .churn: arguments.append("--churn")
        case .idle: arguments += ["--idle", String(cell.idleConnections)]
        case .file: arguments.append("--download")
        }
        let load: ChildProcess
        do {
            load = try ChildProcess(arguments: arguments)
        } catch {
            return RunSample(failure: "load failed: \(error.description)")
        }
        defer { load.forceKill() }

        // Connect time, idle batches and a margin on top of the planned run.
        var budget = plan.warmupSeconds + plan.durationSeconds + 15
        if cell.scenario == .idle { budget += 5 * Double(cell.idleConnections / 128 + 1) }
        let deadline = monotonicNanos() + nanos(seconds: budget)

        var rssPerConnection: Double?
        var idleOpen: Int?
        if cell.scenario == .idle {
            // Sample server memory the moment the idle connections are all open.
            _ = ChildProcess.pump([load, server], until: deadline) {
                load.hasExited || load.stderrLines.contains { $0.hasPrefix("idle-ready ") }
            }
            if let line = load.stderrLines.first(where: { $0.hasPrefix("idle-ready ") }),
               let open = Int(line.dropFirst("idle-ready ".count)), open > 0,
               let before = rssBefore, let after = ProcStats.residentBytes(pid: server.pid) {
                idleOpen = open
                rssPerConnection = (after - before) / Double(open)
            }
        }

        if !ChildProcess.pump([load, server], until: deadline, done: { load.hasExited }) {
            load.forceKill()
            return RunSample(failure: "load failed: no result within \(Int(budget)) s")
        }
        guard let report = load.stdoutLines.reversed().lazy.compactMap({ parseJSONObject($0) }).first else {
            let reason = load.stderrLines.first(where: { !$0.isEmpty }).map(String.init) ?? load.endDescription
            return RunSample(failure: "load failed: \(reason.replacingOccurrences(of: "netpoll load: ", with: ""))")
        }
        var sample = RunSample()
        sample.requestsPerSecond = jsonNumber(report, "requests_per_second")
        sample.p50Micros = jsonNumber(report, "p50_us")
        sample.p99Micros = jsonNumber(report, "p99_us")
        sample.p999Micros = jsonNumber(report, "p999_us")
        sample.requestsTotal = jsonNumber(report, "requests_total")
        sample.errors = Int(jsonNumber(report, "errors") ?? 0)
        sample.firstError = report["first_error"] as? String
        sample.clientSaturated = (report["client_saturated"] as? Bool) ?? false
        sample.clientCPUPercent = jsonNumber(report, "client_cpu_percent")
        sample.rssBytesPerConnection = rssPerConnection
        sample.idleOpen = idleOpen
        return sample
    }

    /// The last stdout line that parses as a JSON object: our echo-server's stats.
    private func lastStatsLine(_ server: ChildProcess) -> [String: Any]? {
        server.stdoutLines.reversed().lazy.compactMap({ parseJSONObject($0) }).first
    }
}
