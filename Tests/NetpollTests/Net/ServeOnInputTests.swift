import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Listener.serveOnInput: handlers run on input; idle connections wait with no task
// (parked dormant), busy ones keep theirs until an idle sweep retires it. What must
// hold: no input is ever left unserved (across dormancy and retirement), the idle
// timeout and the handler's own deadlines apply to dormant connections, and
// stopping closes every connection, parked or not.

extension SerializedTests.NetTests {
    @Suite struct ServeOnInputTests {
        /// One turn of an echo: what one read returns is written back.
        static func echoTurn(_ conn: TCPConn, turns: Counter) async throws -> AfterInput {
            turns.add()
            let open = try await conn.readBorrowed(upTo: 65536) { bytes in
                if bytes.isEmpty { return false }
                try await conn.write(bytes)
                return true
            }
            return open ? .keepOpen : .close
        }

        /// Runs `body` against a listener served by `serveOnInput(handler)`, then
        /// closes the listener and expects serveOnInput to return.
        static func withServer(
            _ group: LoopGroup, retireAfter: Duration = .milliseconds(100), idleTimeout: Duration? = nil,
            _ handler: @escaping @Sendable (TCPConn) async throws -> AfterInput,
            _ body: (Int) async throws -> Void
        ) async throws {
            let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
            let port = try #require(listener.address?.port)
            let serving = Task { try await listener.serveOnInput(retireAfter: retireAfter, idleTimeout: idleTimeout, handler) }
            do { try await body(port) } catch {
                serving.cancel()
                try? await listener.close()
                throw error
            }
            try await listener.close()
            try await within(.seconds(10), "serveOnInput after the listener closed") { try await serving.value }
        }

        static func dialAll(_ count: Int, port: Int, group: LoopGroup) async throws -> [TCPConn] {
            var conns: [TCPConn] = []
            for _ in 0..<count {
                conns.append(try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(10), group: group))
            }
            return conns
        }

        static func expectEcho(_ conn: TCPConn, _ bytes: [UInt8], _ what: String) async throws {
            try await conn.write(bytes)
            let back = try await within(.seconds(10), what) { try await readFully(conn, count: bytes.count) }
            #expect(back == bytes, "\(what): echo differs")
        }

        @Test(arguments: loopConfigs)
        func idleConnectionsWaitWithoutATaskAndAreServedOnInput(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let turns = Counter()
                try await Self.withServer(group, retireAfter: .milliseconds(20), { try await Self.echoTurn($0, turns: turns) }) { port in
                    let before = group.statistics
                    let count = 100
                    let clients = try await Self.dialAll(count, port: port, group: group)
                    // Every new connection parks with no task; no handler has run.
                    try await waitUntil(within: .seconds(10), "\(count) connections parked without a task") {
                        group.statistics.dormantParks - before.dormantParks >= UInt64(count)
                    }
                    #expect(turns.value == 0)

                    for (i, c) in clients.enumerated() { try await Self.expectEcho(c, [UInt8(i), 1, 2], "first echo \(i)") }
                    // Idle again: the sweep retires their tasks and they park dormant again.
                    // Not under fault injection: a read event for bytes already read (two
                    // segments of one message; a RECV that ended) starts a turn whose
                    // handler read then waits in its task, which no sweep retires.
                    // (Most still retire: give the sweeps the time, then check the echoes.)
                    if !faultInjectionIsOn {
                        try await waitUntil(within: .seconds(10), "tasks retired") {
                            let s = group.statistics
                            return s.readersRetired - before.readersRetired >= UInt64(count)
                                && s.dormantParks - before.dormantParks >= UInt64(2 * count)
                        }
                    } else {
                        try await Task.sleep(for: .milliseconds(300))
                    }
                    // Input after retirement is served (no wakeup lost in the hand-over).
                    for (i, c) in clients.enumerated() { try await Self.expectEcho(c, [UInt8(i), 3], "echo after retirement \(i)") }
                    #expect(turns.value >= 2 * count)
                    for c in clients { try await c.close() }
                }
            }
        }

        /// Arrivals racing retirement: sweeps every 5 ms, pauses of 0...30 ms.
        @Test(arguments: loopConfigs)
        func noInputIsLostWhenArrivalsRaceRetirement(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let turns = Counter()
                try await Self.withServer(group, retireAfter: .milliseconds(5), { try await Self.echoTurn($0, turns: turns) }) { port in
                    let before = group.statistics
                    let verified = Counter()
                    try await within(.seconds(60), "racing clients") {
                        try await withThrowingTaskGroup(of: Void.self) { g in
                            for i in 0..<16 {
                                g.addTask {
                                    var rng = SplitMix(seed: UInt64(i) &+ 0x5e1)
                                    let conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(10), group: group)
                                    for round in 0..<25 {
                                        try await Task.sleep(for: .milliseconds(Int(rng.next() % 31)))
                                        let size = Int(rng.next() % 8192) + 1
                                        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ round &+ i) }
                                        try await conn.write(bytes)
                                        let back = try await readFully(conn, count: size)
                                        if back == bytes { verified.add() }
                                    }
                                    try await conn.close()
                                }
                            }
                            try await g.waitForAll()
                        }
                    }
                    #expect(verified.value == 16 * 25)
                    #expect(group.statistics.readersRetired > before.readersRetired, "no retirement happened: the race was not exercised")
                }
            }
        }

        @Test(arguments: loopConfigs)
        func idleTimeoutClosesConnectionsParkedWithoutATask(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let turns = Counter()
                try await Self.withServer(
                    group, retireAfter: .milliseconds(20), idleTimeout: .milliseconds(200), { try await Self.echoTurn($0, turns: turns) }
                ) { port in
                    // One that never sends, one that sends once and then goes quiet: both closed.
                    let silent = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    let once = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    try await Self.expectEcho(once, [9, 9], "echo before going quiet")
                    #expect(try await within(.seconds(10), "silent connection closed") { try await silent.read(maxCount: 8) } == [])
                    #expect(try await within(.seconds(10), "quiet connection closed") { try await once.read(maxCount: 8) } == [])
                    try await silent.close()
                    try await once.close()
                }
            }
        }

        @Test(arguments: loopConfigs)
        func handlerEndsItsConnectionByReturningCloseOrThrowing(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                struct Refused: Error {}
                let handler: @Sendable (TCPConn) async throws -> AfterInput = { conn in
                    let first = try await conn.read(maxCount: 1)
                    if first.isEmpty || first == [1] { return .close }
                    if first == [2] { throw Refused() }
                    try await conn.write(first)
                    return .keepOpen
                }
                try await Self.withServer(group, handler) { port in
                    let clients = try await Self.dialAll(3, port: port, group: group)
                    try await Self.expectEcho(clients[2], [5], "a kept connection")
                    try await clients[0].write([1])
                    try await clients[1].write([2])
                    for c in clients[0...1] {
                        #expect(try await within(.seconds(10), "ended connection") { try await c.read(maxCount: 8) } == [])
                    }
                    // The others are untouched.
                    try await Self.expectEcho(clients[2], [6], "the kept connection again")
                    for c in clients { try await c.close() }
                }
            }
        }

        @Test(arguments: loopConfigs)
        func cancellingClosesParkedAndBusyConnections(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let inTurn = Counter()
                let serving = Task {
                    try await listener.serveOnInput(retireAfter: .seconds(30)) { conn in
                        let got = try await conn.read(maxCount: 16)
                        if got == [0xff] {
                            // A turn that does not end by itself.
                            inTurn.add()
                            try await Task.sleep(for: .seconds(600))
                        }
                        try await conn.write(got)
                        return .keepOpen
                    }
                }
                // Never sent (parked dormant), sent once (parked in a task), busy in a turn.
                let clients = try await Self.dialAll(6, port: port, group: group)
                for c in clients[2...3] { try await Self.expectEcho(c, [4], "echo") }
                for c in clients[4...5] { try await c.write([0xff]) }
                try await waitUntil(within: .seconds(10), "turns running") { inTurn.value == 2 }

                serving.cancel()
                _ = try? await within(.seconds(10), "cancelled serveOnInput") { try await serving.value }
                for (i, c) in clients.enumerated() {
                    #expect(try await within(.seconds(10), "connection \(i) closed") { try await c.read(maxCount: 8) } == [])
                    try await c.close()
                }
                try await listener.close()
            }
        }

        /// serveOnInput's turn tasks park with no cancellation handler of their own
        /// (serveOnInput wakes them): a handler waiting in a second read of its own
        /// connection, and one whose peer reads nothing, parked in a write, both end
        /// with CancellationError when serveOnInput is cancelled.
        @Test(arguments: loopConfigs)
        func cancellingEndsHandlersParkedInTheirOwnReadsAndWrites(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let parked = Counter()
                let ends = Mutex<[String]>([])
                let serving = Task {
                    try await listener.serveOnInput(retireAfter: .seconds(30)) { conn in
                        do {
                            let first = try await conn.read(maxCount: 1)
                            parked.add()
                            if first == [1] {
                                _ = try await conn.read(maxCount: 1)  // nothing more comes
                            } else {
                                let chunk = [UInt8](repeating: 7, count: 64 * 1024)
                                while true { try await conn.write(chunk) }
                            }
                        } catch {
                            ends.locked { $0.append(error is CancellationError ? "cancelled" : "\(error)") }
                            throw error
                        }
                        return .keepOpen
                    }
                }
                let clients = try await Self.dialAll(2, port: port, group: group)
                try await clients[0].write([1])
                try await clients[1].write([2])
                try await waitUntil("both turns started") { parked.value == 2 }
                // Let the writer fill both socket buffers and park.
                try await Task.sleep(for: .milliseconds(200))
                serving.cancel()
                _ = try? await within(.seconds(10), "cancelled serveOnInput") { try await serving.value }
                #expect(ends.locked { $0 } == ["cancelled", "cancelled"])
                for c in clients { try await c.close() }
                try await listener.close()
            }
        }
    }
}
