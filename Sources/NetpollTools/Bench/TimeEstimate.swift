/// How long a bench will take, said before the first run, and how long it has
/// left, said after each cell: a newcomer running the README's first command
/// should know at once whether to wait or come back later.
///
/// Before the run the estimate is the plan's own time (warmup + measured time per
/// run) plus what a run costs around it, as measured on this project's 2-core VM.
/// After a cell it scales what is left by how the cells so far compared with
/// their plan, so a busy or slower machine shows in the estimate.
public struct TimeEstimate: Sendable {
    /// Starting a server, waiting for `listening on`, starting the client,
    /// connecting, stopping: about 0.2 s a run on the VM.
    static let runOverheadSeconds = 0.25
    /// The idle scenario opens, checks and closes its idle connections on top:
    /// about 3 s for 10,000.
    static let idleSecondsPerConnection = 0.0003

    /// Planned seconds of each cell, in the plan's order.
    public let cellSeconds: [Double]

    public init(plan: BenchPlan) {
        cellSeconds = plan.cells.map { cell in
            Double(plan.servers(for: cell).count * plan.repeats) * Self.runSeconds(cell, plan: plan)
        }
    }

    /// One run of one server in `cell`.
    static func runSeconds(_ cell: BenchPlan.Cell, plan: BenchPlan) -> Double {
        var seconds = plan.warmupSeconds + plan.durationSeconds + runOverheadSeconds
        if cell.scenario == .idle { seconds += Double(cell.idleConnections) * idleSecondsPerConnection }
        return seconds
    }

    public var totalSeconds: Double { cellSeconds.reduce(0, +) }

    /// Seconds left once the first `done` cells took `elapsed` seconds: the planned
    /// rest, scaled by how long the cells done took against their plan.
    public func secondsLeft(afterCells done: Int, elapsed: Double) -> Double {
        let done = min(max(done, 0), cellSeconds.count)
        let plannedDone = cellSeconds[..<done].reduce(0, +)
        let plannedLeft = cellSeconds[done...].reduce(0, +)
        guard plannedDone > 0, elapsed > 0 else { return plannedLeft }
        return plannedLeft * elapsed / plannedDone
    }

    /// "45 s", "3 min 20 s", "12 min": to the second under a minute, then to
    /// 5 s (an estimate claims no more).
    public static func text(seconds: Double) -> String {
        guard seconds.isFinite, seconds > 0 else { return "0 s" }
        if seconds < 59.5 { return "\(Int(seconds.rounded())) s" }
        let rounded = Int((seconds / 5).rounded()) * 5
        let minutes = rounded / 60
        let rest = rounded % 60
        return rest == 0 ? "\(minutes) min" : "\(minutes) min \(rest) s"
    }

    /// "1:05": elapsed time as a clock shows it.
    public static func clock(seconds: Double) -> String {
        let whole = max(0, Int(seconds.rounded()))
        let rest = whole % 60
        return "\(whole / 60):\(rest < 10 ? "0" : "")\(rest)"
    }
}
