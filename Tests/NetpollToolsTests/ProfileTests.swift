import Testing
@testable import NetpollTools

/// The default run asks the mission's question in a few minutes; `--full` keeps
/// the complete matrix; options named on the command line override either.
@Suite struct ProfileTests {
    static func cells(_ plan: BenchPlan) -> [String] { plan.cells.map(\.title) }

    @Test func theDefaultAsksEveryQuestionOfTheMission() throws {
        var plan = BenchPlan.standard()
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring", "uring-completion"], loops: 1, peers: [])
        try plan.validate()
        #expect(Self.cells(plan) == [
            "echo 64 conns × 64 B", "echo 64 conns × 4 KiB", "echo 512 conns × 64 B", "echo 512 conns × 4 KiB",
            "churn 64 conns × 64 B",
            "idle 10,000 conns",
        ])
        // Enough rounds for a verdict to mean something (see RoundComparison).
        #expect(plan.repeats >= 5)
        #expect(plan.repeats >= RoundComparison.minimumRounds)
    }

    @Test func fullIsTheCompleteMatrix() {
        let plan = BenchPlan.full()
        #expect(Self.cells(plan).count == 3 * 2 + 3 * 2 + 1)
        #expect(Self.cells(plan).filter { $0.hasPrefix("churn") }.count == 6)
        #expect(Self.cells(plan).contains("echo 1 conn × 64 B"))
        #expect(plan.repeats == 3 && plan.durationSeconds == 3 && plan.warmupSeconds == 1)
        #expect(plan.idleConnections == 10_000)
    }

    /// The default fits the 6-minute budget with the build: its plan alone must
    /// stay well under the full matrix's.
    @Test func theDefaultPlansAFractionOfTheFullRun() throws {
        func planned(_ profile: BenchPlan) throws -> Double {
            var plan = profile
            try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring", "uring-completion"], loops: 1, peers: [])
            return TimeEstimate(plan: plan).totalSeconds
        }
        let standard = try planned(.standard())
        let full = try planned(.full())
        #expect(standard <= 4 * 60)
        #expect(standard < full / 2)
    }

    /// Connections or sizes named on the command line apply to churn too (the
    /// CLI clears the churn overrides), as they did before the default changed.
    @Test func churnCellsFollowTheirOwnListsOnlyWhenGiven() {
        var plan = BenchPlan.standard()
        plan.scenarios = [.churn]
        #expect(Self.cells(plan) == ["churn 64 conns × 64 B"])
        plan.connections = [1, 8]
        plan.churnConnections = nil
        plan.sizes = [4096]
        plan.churnSizes = nil
        #expect(Self.cells(plan) == ["churn 1 conn × 4 KiB", "churn 8 conns × 4 KiB"])
    }

    @Test func emptyChurnListsAreRejected() throws {
        var plan = BenchPlan.standard()
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll"], loops: 1, peers: [])
        plan.churnConnections = []
        #expect(throws: BenchError.self) { try plan.validate() }
        plan.churnConnections = nil
        plan.churnSizes = [0]
        #expect(throws: BenchError.self) { try plan.validate() }
    }
}
