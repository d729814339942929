import Testing
@testable import NetpollTools

@Suite struct ReportTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(median([]) == nil)
        #expect(median([3, 1, 2]) == 2)
        #expect(median([4, 1, 3, 2]) == 2.5)
    }

    /// Every server runs once in every position of a round over as many rounds as
    /// there are servers (the first of a round was measured at a disadvantage).
    @Test func serverOrderRotatesFromRoundToRound() {
        let servers = ["epoll", "uring", "go", "nio"]
        let rounds = (0..<8).map { BenchRunner.rotated(servers, round: $0) }
        #expect(rounds[0] == servers)
        #expect(rounds[1] == ["uring", "go", "nio", "epoll"])
        for r in rounds { #expect(r.sorted() == servers.sorted()) }
        for position in servers.indices {
            #expect(Set(rounds[0..<4].map { $0[position] }) == Set(servers))
        }
        #expect(rounds[4] == rounds[0])
        #expect(BenchRunner.rotated([String](), round: 3).isEmpty)
    }

    @Test func jsonKeepsKeyOrderAndEscapes() {
        let value = JSONValue.object([
            ("b", .int(1)), ("a", .string("q\"\n")), ("c", .double(1.5)), ("d", .double(.nan)), ("e", .bool(true)),
        ])
        #expect(value.serialized() == #"{"b":1,"a":"q\"\n","c":1.5,"d":null,"e":true}"#)
        #expect(JSONValue.format(2.0) == "2")
        #expect(JSONValue.format(0.1234) == "0.123")
    }

    @Test func statsLinesParse() {
        let object = parseJSONObject(#"{"backend":"uring","poll_calls":123,"syscalls":940}"#[...])
        #expect(object.map { jsonNumber($0, "poll_calls") } == 123)
        #expect(object.map { jsonNumber($0, "missing") } == .some(nil))
        #expect(parseJSONObject("listening on 127.0.0.1:1"[...]) == nil)
    }

    @Test func tableAlignsColumns() {
        var table = Table(header: ["name", "n", "notes"])
        table.rightAligned = [1]
        table.add(["epoll", "5", ""])
        table.add(["uring", "123", "slow"])
        #expect(table.rendered() == """
            name     n  notes
            -----------------
            epoll    5
            uring  123  slow
            """)
    }

    /// `NAME+F+G` runs our echo-server on NAME with NETPOLL_URING_FEATURES=F,G, so one
    /// run measures a feature on and off side by side.
    @Test func aBackendWithFeaturesRunsWithThemInItsEnvironment() throws {
        var plan = BenchPlan.quick()
        try plan.addServers(selfPath: "/x/netpoll", backends: ["uring-completion", "uring-completion+accept+min-wait", "uring+none"], loops: 1, peers: [])
        #expect(plan.servers.map(\.name) == ["uring-completion", "uring-completion+accept+min-wait", "uring+none"])
        #expect(plan.servers[0].arguments.prefix(4) == ["/x/netpoll", "echo-server", "--backend", "uring-completion"])
        #expect(plan.servers[1].arguments.prefix(6) == ["/usr/bin/env", "NETPOLL_URING_FEATURES=accept,min-wait", "/x/netpoll", "echo-server", "--backend", "uring-completion"])
        #expect(plan.servers[2].arguments.prefix(2) == ["/usr/bin/env", "NETPOLL_URING_FEATURES=none"])
    }

    @Test func ratiosUseTheBaselineMedian() throws {
        var plan = BenchPlan.quick()
        plan.scenarios = [.echo]
        plan.connections = [1]
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring"], loops: 1, peers: ["c=peers/bin/c --x"])
        #expect(plan.servers.map(\.name) == ["epoll", "uring", "c"])
        #expect(plan.servers[2].arguments == ["peers/bin/c", "--x", "--host", "127.0.0.1", "--port", "0"])
        let cell = plan.cells[0]
        func sample(_ rps: Double) -> RunSample {
            var sample = RunSample()
            sample.requestsPerSecond = rps
            sample.requestsTotal = 1000
            sample.serverCPUMicros = 500
            return sample
        }
        let report = BenchReport(plan: plan, results: [cell: [
            "epoll": [sample(100), sample(300), sample(200)],
            "uring": [sample(250)],
            "c": [RunSample(failure: "failed: nope")],
        ]])
        #expect(report.rows.map(\.ratio) == [1, 1.25, nil])
        #expect(report.rows[0].cpuMicrosPerMessage == 0.5)
        #expect(report.rows[2].status == "failed: nope")
    }
    /// A client-saturated run caps req/s: the ratio must not read as a win or a loss.
    @Test func clientBoundRatiosAreNeitherWinNorLoss() throws {
        var plan = BenchPlan.quick()
        plan.scenarios = [.echo]
        plan.connections = [64, 512]
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring"], loops: 1, peers: ["c=peers/bin/c --x"])
        plan.baseline = "c"
        #expect(plan.cells.count == 2)
        func sample(_ rps: Double, saturated: Bool = false) -> RunSample {
            var sample = RunSample()
            sample.requestsPerSecond = rps
            sample.requestsTotal = 1000
            sample.clientSaturated = saturated
            return sample
        }
        let report = BenchReport(plan: plan, results: [
            // Baseline not client-bound: epoll's 0.8x is a loss; uring was client-bound, so ≈.
            plan.cells[0]: ["c": [sample(200), sample(200)], "epoll": [sample(160)],
                            "uring": [sample(210), sample(214, saturated: true)]],
            // Baseline client-bound in one run: slower is still a loss (at least that large), faster is ≈.
            plan.cells[1]: ["c": [sample(200, saturated: true), sample(200)], "epoll": [sample(170)],
                            "uring": [sample(204)]],
        ])
        let rows = report.rows
        #expect(rows.map(\.server) == ["epoll", "uring", "c", "epoll", "uring", "c"])
        #expect(rows.map(\.ratioReading) == [.measured, .clientBound, .measured, .atMost, .clientBound, .clientBound])
        #expect(rows.map(\.ratioText) == ["0.80x", "≈1.06x", "1.00x", "≤0.85x", "≈1.02x", "≈1.00x"])
        let table = report.table()
        #expect(table.contains("≈1.06x"))
        #expect(table.contains("neither a win nor a loss"))
        #expect(table.contains("≤: only the baseline was client-bound"))
        #expect(report.json().contains(#""ratio_vs_baseline":0.8,"ratio_reading":"measured""#))
        #expect(report.json().contains(#""ratio_reading":"client_bound""#))
        #expect(LoadReport.saturationPercentPerThread == 95)
    }

    /// The file scenario: a write and a sendfile cell per size, our servers only,
    /// and sendfile's gain over write per server.
    @Test func fileCellsPairWriteWithSendfileAndLeavePeersOut() throws {
        var plan = BenchPlan.quick()
        plan.scenarios = [.file]
        plan.connections = [4]
        plan.fileSizes = [1 << 20]
        try plan.addServers(selfPath: "/x/netpoll", backends: ["epoll", "uring"], loops: 1, peers: ["c=peers/bin/c"])
        try plan.validate()
        #expect(plan.cells.map(\.label) == ["file/write", "file/sendfile"])
        #expect(plan.cells.allSatisfy { $0.size == 1 << 20 && $0.connections == 4 })
        #expect(plan.servers(for: plan.cells[0]).map(\.name) == ["epoll", "uring"])
        func sample(_ rps: Double) -> RunSample {
            var sample = RunSample()
            sample.requestsPerSecond = rps
            sample.requestsTotal = 1000
            return sample
        }
        let report = BenchReport(plan: plan, results: [
            plan.cells[0]: ["epoll": [sample(100)], "uring": [sample(110)]],
            plan.cells[1]: ["epoll": [sample(150)], "uring": [sample(99)]],
        ])
        #expect(report.rows.map(\.server) == ["epoll", "uring", "epoll", "uring"])
        #expect(report.rows.map { report.sendfileGain($0) } == [nil, nil, 1.5, 0.9])
        let table = report.table()
        #expect(table.contains("file/sendfile") && table.contains("vs write: 1.50x") && table.contains("vs write: 0.90x"))
        #expect(report.json().contains(#""file_send":"sendfile","sendfile_vs_write":1.5"#))
        // Peers alone cannot run it.
        var peersOnly = BenchPlan.quick()
        peersOnly.scenarios = [.file]
        try peersOnly.addServers(selfPath: "/x/netpoll", backends: [], loops: 1, peers: ["c=peers/bin/c"])
        #expect(throws: BenchError.self) { try peersOnly.validate() }
    }
}
