import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Tasks isolated to a loop (LoopIsolation) with no executor preference: where they
// run, and that a parked one is resumed straight onto its loop (LoopResume).

/// The isolation the caller runs with.
private func callerIsolation(_ isolation: isolated (any Actor)? = #isolation) -> (any Actor)? { isolation }

extension SerializedTests.RuntimeTests {
    @Suite struct LoopIsolationTests {
        /// A task isolated to loop 1 reads and writes pipes against a peer on loop 0:
        /// every read parks, every resume comes from loop 1's own poll. Resumed onto the
        /// loop directly, the task never needs a wake of loop 1's poller; sent the
        /// runtime's way (a pool thread, then a hop back) nearly every round would.
        @Test(arguments: loopConfigs)
        func aParkedLoopIsolatedTaskResumesOnItsLoopWithoutAHop(config: PollerConfig) async throws {
            try await withLoopGroup(config, loops: 2) { group in
                let rounds = 2_000
                let loop0 = group.loops[0], loop1 = group.loops[1]
                let pipes = try await PingPongPipes.open(loop0, loop1)
                let p1r = pipes.p1r, p2w = pipes.p2w
                let wakesBefore = loop1.statistics.wakes

                let b = Task { () async throws -> Int in
                    try await runIsolated(to: loop1.isolation) {
                        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                        defer { buf.deallocate() }
                        var offLoop = 0
                        for _ in 0..<rounds {
                            guard try await p1r.read(into: buf) == 1 else { throw CancellationError() }
                            // Read outside `||`: its autoclosure is not isolated.
                            let isolation = callerIsolation()
                            if !loop1.inEventLoop || isolation !== loop1.isolation { offLoop += 1 }
                            try await p2w.write(UnsafeRawBufferPointer(buf))
                        }
                        return offLoop
                    }
                }
                let a = pipes.ping(rounds: rounds, on: loop0)
                let ra = await outcome(of: a, within: .seconds(60), "peer on loop 0")
                let rb = await outcome(of: b, within: .seconds(60), "task isolated to loop 1")
                #expect((try? ra.get()) == rounds, "peer: \(ra)")
                #expect((try? rb.get()) == 0, "rounds that went on off loop 1 or off its isolation: \(rb)")
                let wakes = loop1.statistics.wakes - wakesBefore
                #expect(wakes < UInt64(rounds / 10), "loop 1 was woken \(wakes) times in \(rounds) rounds")
                try await pipes.close()
            }
        }

        /// The serving tasks themselves (the accept loop, serveOnInput's hand-out of
        /// woken connections) run on the listener's loop: 100 clients from another
        /// group connect, echo once and leave, and the server's loop is never woken
        /// through its wake channel. An accept loop left on the global pool (the body
        /// of a task group does not inherit the actor it is called from) would
        /// register each new descriptor from there, waking the loop every time.
        @Test(arguments: loopConfigs)
        func servingTasksRunOnTheListenersLoop(_ config: PollerConfig) async throws {
            for onInput in [false, true] {
                try await withLoopGroup(config, loops: 1) { server in
                    try await withLoopGroup(config, loops: 1) { clients in
                        let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: server)
                        let port = try #require(listener.address?.port)
                        let serving = Task {
                            if onInput {
                                try await listener.serveOnInput { conn in
                                    let got = try await conn.read(maxCount: 64)
                                    if got.isEmpty { return .close }
                                    try await conn.write(got)
                                    return .keepOpen
                                }
                            } else {
                                try await listener.serve { conn in
                                    while case let got = try await conn.read(maxCount: 64), !got.isEmpty {
                                        try await conn.write(got)
                                    }
                                }
                            }
                        }
                        // Let the serving task settle on its loop before counting.
                        let first = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: clients)
                        try await first.write([1])
                        #expect(try await readFully(first, count: 1) == [1])
                        try await first.close()
                        let wakesBefore = server.loops[0].statistics.wakes
                        for i in 0..<100 {
                            let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: clients)
                            try await c.write([UInt8(i)])
                            #expect(try await readFully(c, count: 1) == [UInt8(i)])
                            try await c.close()
                        }
                        let wakes = server.loops[0].statistics.wakes - wakesBefore
                        #expect(wakes < 20, "\(onInput ? "serveOnInput" : "serve"): the server's loop was woken \(wakes) times for 100 connections")
                        try await listener.close()
                        _ = try await within(.seconds(10), "serving ends") { try await serving.value }
                    }
                }
            }
        }

        /// `serve` runs each handler isolated to its connection's loop, and the
        /// library's calls keep it there across parks.
        @Test(arguments: loopConfigs)
        func serveRunsHandlersIsolatedToTheirConnectionsLoop(_ config: PollerConfig) async throws {
            try await withNetGroup(config, loops: 2) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let offLoop = Counter()
                let turns = Counter()
                let echoed = Counter()
                let serving = Task {
                    try await listener.serve { conn in
                        while true {
                            let got = try await conn.read(maxCount: 64)
                            if got.isEmpty { return }
                            turns.add()
                            // Read outside `||`: its autoclosure is not isolated.
                            let isolation = callerIsolation()
                            if !conn.loop.inEventLoop || isolation !== conn.loop.isolation { offLoop.add() }
                            try await conn.write(got)
                            echoed.add(got.count)
                        }
                    }
                }
                for i in 0..<4 {
                    let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    for j in 0..<25 {
                        try await c.write([UInt8(i), UInt8(j)])
                        #expect(try await readFully(c, count: 2) == [UInt8(i), UInt8(j)])
                    }
                    try await c.close()
                }
                // Bytes, not turns: TCP keeps no message boundaries (a 2-byte write may
                // arrive, or be read, in two parts: fault injection's short counts do it).
                try await waitUntil("every byte echoed") { echoed.value == 200 }
                #expect(offLoop.value == 0, "\(offLoop.value) of \(turns.value) turns ran off their connection's loop")
                try await listener.close()
                _ = try await within(.seconds(5), "serve returns") { try await serving.value }
            }
        }
    }
}
