import CNetpoll
import CNetpollTestSupport
import Testing
@testable import Netpoll

// What one echoed message costs the server's loop thread, counted (census.c): heap
// allocations, retains and task-allocator frames. The speed rests on tricks a
// toolchain update can undo without failing anything else (docs/runtime-tricks.md);
// this is where undoing one shows. See docs/runtime-tricks.md#the-census.

extension SerializedTests.NetTests {
    @Suite struct MessageCostTests {
        /// The servers an echo message can go through.
        enum Server: String, CaseIterable, Sendable, CustomTestStringConvertible {
            /// `serveOnInput`, as `netpoll echo-server` runs it: a turn per input,
            /// parked in `waitReadable(retiring:)` between messages.
            case serveOnInput
            /// `serve`: a task per connection, parked in its read between messages.
            case serve
            /// `serveOnInput` written with the span API (`readSpan`, `write(RawSpan)`):
            /// held to `serveOnInput`'s budget, the span API's promise of no extra cost.
            case serveOnInputSpans
            /// `serve` with `for try await chunk in conn.inbound`, written back: an
            /// array per chunk (the one malloc it is allowed) and the iterator's frames.
            /// Fences its iterators' `next(isolation:)`: without it the iteration
            /// runs off the loop, a hop per chunk.
            case inbound
            /// The budget a server is held to.
            var budgeted: Server { self == .serveOnInputSpans ? .serveOnInput : self }
            var testDescription: String { rawValue }
        }

        /// Per message on the server's loop thread, in optimized builds (`-c release`).
        struct Budget {
            var retains: Double
            var frames: Double
            /// Dynamic exclusivity checks (swift_beginAccess).
            var accesses: Double
            /// Executor checks at hop points (swift_task_switch).
            var switches: Double
            /// Heap allocations: none, but for a server that allocates by design.
            var mallocs: Double = 0
        }

        /// The committed budgets, per loop configuration and server: what swiftc 6.3.1
        /// (`swift test -c release`, Linux 6.18) does, the same in every run. Mallocs
        /// are none per message but for `inbound`'s array per chunk (± `mallocsPerMessage`). A
        /// toolchain that changes a count fails the test either way, so that a count
        /// that drops (a counter broken, or a saving gained) is looked at and the
        /// budget lowered here. One connection in ping-pong: each message is a loop
        /// turn of its own (a blocking poll, the turn's bookkeeping), so the counts are
        /// above the benchmark's 64-connection figures in docs/performance-log.md.
        static let budgets: [String: [Server: Budget]] = [
            "epoll": [
                .serveOnInput: Budget(retains: 5, frames: 2, accesses: 9, switches: 4),
                .serve: Budget(retains: 6, frames: 2, accesses: 9, switches: 3),
                .inbound: Budget(retains: 6, frames: 7, accesses: 9, switches: 5, mallocs: 1),
            ],
            "uring-multishot-defer": [
                .serveOnInput: Budget(retains: 5, frames: 2, accesses: 14, switches: 4),
                .serve: Budget(retains: 6, frames: 2, accesses: 14, switches: 3),
                .inbound: Budget(retains: 6, frames: 7, accesses: 14, switches: 5, mallocs: 1),
            ],
            "uring-oneshot-defer": [
                .serveOnInput: Budget(retains: 6, frames: 2, accesses: 18, switches: 4),
                .serve: Budget(retains: 7, frames: 2, accesses: 18, switches: 3),
                .inbound: Budget(retains: 7, frames: 7, accesses: 18, switches: 5, mallocs: 1),
            ],
            // `auto` features: none are measured to pay yet (URingFeatures.swift), so
            // this is the same loop as "uring-completion-nofeatures".
            "uring-completion-defer": [
                .serveOnInput: Budget(retains: 7, frames: 4, accesses: 17, switches: 4),
                .serve: Budget(retains: 7, frames: 3, accesses: 17, switches: 3),
                .inbound: Budget(retains: 7, frames: 8, accesses: 17, switches: 5, mallocs: 1),
            ],
            "uring-completion-nofeatures": [
                .serveOnInput: Budget(retains: 7, frames: 4, accesses: 17, switches: 4),
                .serve: Budget(retains: 7, frames: 3, accesses: 17, switches: 3),
                .inbound: Budget(retains: 7, frames: 8, accesses: 17, switches: 5, mallocs: 1),
            ],
            // Every feature on: the same counts (accept's look at whether a RECV-tagged
            // CQE is an ACCEPT's, the ledger's partial buffers, the batched enter).
            "uring-completion-allfeatures": [
                .serveOnInput: Budget(retains: 7, frames: 4, accesses: 17, switches: 4),
                .serve: Budget(retains: 7, frames: 3, accesses: 17, switches: 3),
                .inbound: Budget(retains: 7, frames: 8, accesses: 17, switches: 5, mallocs: 1),
            ],
        ]
        /// How far a count may stray from its budget per message: the rounds' start
        /// and end add a few in all, while one retain or frame more per message
        /// adds 1.
        static let tolerance = 0.3
        /// Mallocs per message allowed: a steady state allocates nothing (the
        /// counting's own hand-overs add a few in all).
        static let mallocsPerMessage = 0.01

        static let rounds = 2_000
        static let warmUp = 200
        static let size = 64

        /// A 64-byte echo, `rounds` times over one connection, from a client on a
        /// loop of its own; the server's loop thread is counted between the warm-up
        /// and the end. Fails, naming the likely cause, when a count leaves its budget.
        @Test(arguments: loopConfigs, Server.allCases)
        func anEchoMessageCostsTheServerLoopItsBudget(config: PollerConfig, server: Server) async throws {
            if cnp_tsan_enabled {
                print("skipped: \(config.name): a ThreadSanitizer build counts its own allocations (census.c)")
                return
            }
            guard config.canRunHere() else { return }
            if let why = cnp_census_check() {
                Issue.record("the census cannot count: \(String(cString: why))")
                return
            }
            #expect(LoopResume.hookInstalled, """
                the runtime's global-enqueue hook is not installed (swift_task_enqueueGlobal_hook \
                missing?): every resume of a loop-isolated task goes through the global pool \
                (docs/runtime-tricks.md#enqueue-hook)
                """)

            var counted: Counted?
            try await withLoopGroup(config, loops: 1) { serverGroup in
                try await withLoopGroup(config, loops: 1) { clientGroup in
                    counted = try await Self.echo(server, serverGroup: serverGroup, clientGroup: clientGroup)
                }
            }
            guard let counted else { return }
            let n = Double(Self.rounds)
            let mallocs = Double(counted.mallocs) / n
            let retains = Double(counted.retains) / n
            let frames = Double(counted.frames) / n
            let accesses = Double(counted.accesses) / n
            let switches = Double(counted.switches) / n
            let measured = "\(config.name), \(server): per message \(Self.format(mallocs)) mallocs, "
                + "\(Self.format(retains)) retains, \(Self.format(frames)) task-allocator frames, "
                + "\(Self.format(accesses)) exclusivity checks, \(Self.format(switches)) executor switches "
                + "(\(counted.mallocs), \(counted.retains), \(counted.frames), \(counted.accesses), "
                + "\(counted.switches) in \(Self.rounds) messages)"
            print(measured)

            #expect(counted.probeMallocs == 1, """
                \(measured): an allocation on the loop thread was counted \(counted.probeMallocs) times, \
                not once: the malloc interposer (census.c) no longer sees the runtime's allocations
                """)
            #if DEBUG
            // The counts are the optimizer's: a debug build allocates closure contexts and
            // boxes an optimized one keeps on the stack, and retains far more.
            print("skipped: \(config.name), \(server): the budgets are for optimized builds (swift test -c release)")
            #else
            guard let budget = Self.budgets[config.name]?[server.budgeted] else {
                Issue.record("\(measured): no budget for this configuration")
                return
            }
            #expect(abs(mallocs - budget.mallocs) < Self.mallocsPerMessage, """
                \(measured): mallocs per message left the budget of \(budget.mallocs) (none, but for \
                a server that allocates by design). Find the call site with \
                scripts/malloc-census; the usual causes are a closure or a box the optimizer no longer \
                keeps on the stack, an array that grows per message, or a task-allocator slab per \
                message (docs/runtime-tricks.md#the-census)
                """)
            #expect(abs(retains - budget.retains) <= Self.tolerance, """
                \(measured): retains per message left the budget of \(budget.retains). More: a \
                reference the hot path held unretained is retained again — look for an \
                _withUnsafeGuaranteedRef, Unmanaged or loop-local pointer that a new swiftc no \
                longer honours, or a new witness or closure copy (docs/runtime-tricks.md). Fewer: \
                a saving gained, or the retain counter (census.c) counts no longer — lower the budget after \
                checking with perf uprobes
                """)
            #expect(abs(frames - budget.frames) <= Self.tolerance, """
                \(measured): task-allocator frames per message left the budget of \(budget.frames). \
                More: an async function on the message path is no longer inlined \
                (@inline(__always) on async functions, docs/runtime-tricks.md#inlined-async) or a \
                synchronous first try (FD+AtOnce) no longer finishes. Fewer: a saving gained, or \
                swift_task_alloc is no longer called by name — lower the budget after checking
                """)
            #expect(abs(accesses - budget.accesses) <= Self.tolerance, """
                \(measured): dynamic exclusivity checks per message left the budget of \(budget.accesses). \
                More: a stored var on the hot path is checked again — the loop-local pointer's \
                _read/_modify accessors or @exclusivity(unchecked) no longer honoured, or a new class \
                var on the path (docs/runtime-tricks.md#exclusivity). Fewer: a saving gained, or \
                swift_beginAccess is no longer called by name — lower the budget after checking
                """)
            #expect(abs(switches - budget.switches) <= Self.tolerance, """
                \(measured): executor switches per message left the budget of \(budget.switches). \
                More: a hop the code avoids is back — a closure no longer isolated to the loop \
                (docs/runtime-tricks.md#keep-hop), NonisolatedNonsendingByDefault lost \
                (#nonsending), or a park that hops (#covered-park). Fewer: a saving gained, or \
                swift_task_switch is no longer called by name — lower the budget after checking
                """)
            #endif
        }

        static func format(_ x: Double) -> String {
            let hundredths = Int((x * 100).rounded())
            let frac = hundredths % 100
            return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
        }

        struct Counted: Sendable {
            var mallocs: UInt64
            var retains: UInt64
            var frames: UInt64
            var accesses: UInt64
            var switches: UInt64
            /// Mallocs counted for one known allocation, when counting began.
            var probeMallocs: UInt64
        }

        /// The echo, counted; nil if the round trips failed (then an issue is recorded).
        static func echo(_ server: Server, serverGroup: LoopGroup, clientGroup: LoopGroup) async throws -> Counted? {
            let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: serverGroup)
            let port = try #require(listener.address?.port)
            let serving = Task {
                switch server {
                case .serveOnInput:
                    // No idle sweep while counting: it is per 100 ms, not per message.
                    try await listener.serveOnInput(retireAfter: .seconds(3600)) { conn in
                        let open = try await conn.readBorrowed(upTo: 65536) { bytes in
                            if bytes.isEmpty { return false }
                            try await conn.write(bytes)
                            return true
                        }
                        return open ? .keepOpen : .close
                    }
                case .inbound:
                    try await listener.serve { conn in
                        for try await chunk in conn.inbound { try await conn.write(chunk.span) }
                    }
                case .serveOnInputSpans:
                    try await listener.serveOnInput(retireAfter: .seconds(3600)) { conn in
                        let open = try await conn.readSpan(upTo: 65536) { bytes in
                            if bytes.isEmpty { return false }
                            try await conn.write(bytes)
                            return true
                        }
                        return open ? .keepOpen : .close
                    }
                case .serve:
                    try await listener.serve { conn in
                        while try await conn.readBorrowed(upTo: 65536, { bytes in
                            if bytes.isEmpty { return false }
                            try await conn.write(bytes)
                            return true
                        }) {}
                    }
                }
            }
            let conn = try await TCPConn.connect(
                host: "127.0.0.1", port: port, timeout: .seconds(10), group: clientGroup)
            let loop = serverGroup.loops[0]
            let result = await outcome(of: Task { () async throws -> Counted in
                try await runIsolated(to: clientGroup.loops[0].isolation) {
                    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                    let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                    defer {
                        message.deallocate()
                        reply.deallocate()
                    }
                    for i in 0..<size { message[i] = patternByte(7, i) }
                    func roundTrip() async throws {
                        try await conn.write(UnsafeRawBufferPointer(message))
                        var got = 0
                        while got < size {
                            let n = try await conn.read(into: UnsafeMutableRawBufferPointer(rebasing: reply[got...]))
                            if n == 0 { throw NetpollError.netClosing }
                            got += n
                        }
                    }
                    for _ in 0..<warmUp { try await roundTrip() }
                    // Counting starts on the loop thread, with a known allocation to
                    // prove the interposer sees the runtime's.
                    let start = try await loop.submit { () -> (cnp_census_counts, UInt64) in
                        cnp_census_count_this_thread(1)
                        let before = cnp_census_read().mallocs
                        let probe = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
                        cnp_census_keep(probe)
                        probe.deallocate()
                        return (cnp_census_read(), cnp_census_read().mallocs - before)
                    }
                    for _ in 0..<rounds { try await roundTrip() }
                    let end = try await loop.submit { () -> cnp_census_counts in
                        cnp_census_count_this_thread(0)
                        return cnp_census_read()
                    }
                    #expect(reply.elementsEqual(message), "the last echo differs")
                    return Counted(
                        mallocs: end.mallocs - start.0.mallocs, retains: end.retains - start.0.retains,
                        frames: end.frames - start.0.frames,
                        accesses: end.accesses - start.0.accesses, switches: end.switches - start.0.switches,
                        probeMallocs: start.1)
                }
            }, within: .seconds(60), "\(rounds) echo round trips")
            try await conn.close()
            try await listener.close()
            serving.cancel()
            _ = await outcome(of: serving, within: .seconds(10), "the server after its listener closed")
            switch result {
            case .success(let counted): return counted
            case .failure(let error):
                Issue.record("the echo failed: \(error)")
                return nil
            }
        }
    }
}
