import Testing
@testable import NetpollTools

/// The time a bench says it will take before it starts, and what it says is left
/// after each cell.
@Suite struct TimeEstimateTests {
    static func plan() throws -> BenchPlan {
        var plan = BenchPlan.standard()
        plan.durationSeconds = 1
        plan.warmupSeconds = 0.5
        plan.repeats = 5
        plan.idleConnections = 10_000
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring", "uring-completion"], loops: 1, peers: [])
        return plan
    }

    @Test func theTotalIsEveryRunsPlannedTimeAndItsOverhead() throws {
        let plan = try Self.plan()
        let estimate = TimeEstimate(plan: plan)
        #expect(estimate.cellSeconds.count == plan.cells.count)
        let run = 1.5 + TimeEstimate.runOverheadSeconds
        let idleRun = run + 10_000 * TimeEstimate.idleSecondsPerConnection
        // 5 echo/churn cells and 1 idle cell, 3 servers × 5 rounds each.
        #expect(abs(estimate.totalSeconds - 15 * (5 * run + idleRun)) < 1e-9)
        // The idle cell costs more than an echo cell: it opens 10,000 connections a run.
        #expect(estimate.cellSeconds[5] > estimate.cellSeconds[0])
    }

    @Test func timeLeftScalesThePlannedRestByHowTheCellsSoFarWent() throws {
        let estimate = TimeEstimate(plan: try Self.plan())
        let first = estimate.cellSeconds[0]
        let rest = estimate.totalSeconds - first
        // On plan: the planned rest. Twice as slow so far: twice the rest.
        #expect(abs(estimate.secondsLeft(afterCells: 1, elapsed: first) - rest) < 1e-9)
        #expect(abs(estimate.secondsLeft(afterCells: 1, elapsed: 2 * first) - 2 * rest) < 1e-9)
        #expect(abs(estimate.secondsLeft(afterCells: 0, elapsed: 0) - estimate.totalSeconds) < 1e-9)
        #expect(estimate.secondsLeft(afterCells: estimate.cellSeconds.count, elapsed: 100) == 0)
        #expect(estimate.secondsLeft(afterCells: 99, elapsed: 100) == 0)
    }

    @Test func durationsReadAsPeopleSayThem() {
        #expect(TimeEstimate.text(seconds: 0) == "0 s")
        #expect(TimeEstimate.text(seconds: 44.4) == "44 s")
        #expect(TimeEstimate.text(seconds: 59.6) == "1 min")
        #expect(TimeEstimate.text(seconds: 201) == "3 min 20 s")
        #expect(TimeEstimate.text(seconds: 719) == "12 min")
        #expect(TimeEstimate.text(seconds: .nan) == "0 s")
        #expect(TimeEstimate.clock(seconds: 65.2) == "1:05")
        #expect(TimeEstimate.clock(seconds: 600) == "10:00")
    }

    @Test func thePlanLineNamesTheRunsAndTheEstimate() throws {
        let plan = try Self.plan()
        let line = BenchRunner.planLine(plan, runs: 90, estimate: TimeEstimate(plan: plan))
        #expect(line.hasPrefix("6 cells × 3 servers × 5 rounds = 90 runs of 1 s after 0.5 s warmup: about "))
        #expect(line.hasSuffix(TimeEstimate.text(seconds: TimeEstimate(plan: plan).totalSeconds)))
    }
}
