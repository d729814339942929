import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Issue 24, item 2: listeners accepting through a multishot IORING_OP_ACCEPT (on by
// default in every io_uring mode where the kernel has it), beside the accept4 path
// of epoll and of a ring with the feature off: a storm of connects, and closing a
// listener while its ACCEPT is in the kernel and connections wait in its queue.
// (Descriptor exhaustion under the ACCEPT: DescriptorExhaustionTests, which runs
// every configuration.)

extension PollerConfig {
    /// Whether listeners accept through the ring here.
    var acceptsThroughRing: Bool {
        guard backend.kind == .uring, case .usable = availability else { return false }
        switch backend.uring.features {
        case .auto: return URingPoller.Feature.measuredToPay.contains(.accept) && URingPoller.Feature.accept.unsupportedReason == nil
        case .exactly(let s): return s.contains(.accept)
        }
    }
}

extension SerializedTests.NetTests {
    @Suite struct RingAcceptTests {
        static let storm = 2_000

        /// 2,000 clients connect at once (the listen backlog holds them all); every one
        /// is accepted, registered and echoed. Through the ring the kernel hands up
        /// many connections per wakeup; the ACCEPT must still be running afterwards.
        @Test(arguments: loopConfigs)
        func aStormOfConnectsIsAcceptedAndEchoedInFull(_ config: PollerConfig) async throws {
            guard config.canRunHere(descriptors: 2 * Self.storm + 64) else { return }
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, backlog: Self.storm, group: group)
                let port = try #require(listener.address?.port)
                #expect(listener.fd.ringReceive == config.acceptsThroughRing, "listener accepts through the ring")
                let serving = Task { try await listener.serve { conn in try await EchoTests.echo(conn) } }
                let echoed = Counter()
                try await within(.seconds(120), "\(Self.storm) connects at once, each echoed") {
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        for i in 0..<Self.storm {
                            tasks.addTask {
                                let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(30), group: group)
                                let msg = (0..<64).map { patternByte(UInt64(i), $0) }
                                try await c.write(msg)
                                if try await readFully(c, count: 64) == msg { echoed.add() }
                                try await c.close()
                            }
                        }
                        try await tasks.waitForAll()
                    }
                }
                #expect(echoed.value == Self.storm)
                let accepted = group.loops.reduce(0) { $0 + $1.stats.connectionsAccepted.load(ordering: .relaxed) }
                #expect(accepted == Self.storm)
                if config.acceptsThroughRing {
                    #expect(listener.fd.pd.ringState.load(ordering: .acquiring) == PollDesc.ringRunning,
                            "the multishot ACCEPT should still be in the kernel")
                }
                serving.cancel()
                _ = await serving.result
                try await listener.close()
            }
        }

        /// Until `listener`'s ACCEPT is in the kernel (a waiting accept started it); 50 ms
        /// where listeners do not accept through the ring.
        static func untilAccepting(_ listener: TCPListener, _ config: PollerConfig) async throws {
            guard config.acceptsThroughRing else { return try await Task.sleep(for: .milliseconds(50)) }
            try await within(.seconds(5), "a waiting accept starts the ACCEPT") {
                while listener.fd.pd.ringState.load(ordering: .acquiring) != PollDesc.ringRunning {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
        }

        /// Listeners closed while their ACCEPT is in the kernel: one with an accept()
        /// waiting on it, which ends with netClosing; one with connections the ACCEPT
        /// took waiting in its queue, each of which is closed with it (its client reads
        /// the end or a reset). No descriptor is left open (the group's leak check).
        @Test(arguments: loopConfigs)
        func closingAListenerClosesWhatItsRingAcceptedAndLeaksNothing(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                // A waiting accept: its first try finds nothing, so it starts the ACCEPT and waits.
                let idle = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let waiting = Task { () -> NetpollError? in
                    do { _ = try await idle.accept() } catch let e as NetpollError { return e } catch {}
                    return nil
                }
                try await Self.untilAccepting(idle, config)
                try await idle.close()
                let ended = try await within(.seconds(5), "the waiting accept ends") { await waiting.value }
                #expect(ended == .netClosing)

                // Connections queued on the listener (through the ring) or in its backlog.
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                // An accept that finds the backlog empty starts the ACCEPT (through the ring).
                let first = Task { try await listener.accept() }
                try await Self.untilAccepting(listener, config)
                let c0 = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                let s0 = try await first.value
                var clients: [TCPConn] = []
                for _ in 0..<5 {
                    clients.append(try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group))
                }
                if config.acceptsThroughRing {
                    // The running ACCEPT takes them. In a fault-injection run it may have
                    // been cancelled (as the kernel may end one): then they wait in the
                    // backlog until the next accept(), and are closed alike below.
                    let clock = ContinuousClock()
                    let deadline = clock.now + .seconds(5)
                    while !listener.fd.pd.hasReceived() && clock.now < deadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    #expect(listener.fd.pd.hasReceived() || faultInjectionIsOn, "the ACCEPT queues the connections within 5 s")
                }
                try await listener.close()
                for c in clients {
                    try c.setReadDeadline(.now + .seconds(5))
                    do {
                        let got = try await c.read(maxCount: 1)
                        #expect(got.isEmpty, "a client of a closed listener read data")
                    } catch let e as NetpollError where e.errno == ECONNRESET {
                        // Reset: closed while still in the backlog.
                    }
                    try await c.close()
                }
                // The connection accepted before the close is unaffected.
                try await c0.write([7])
                #expect(try await readFully(s0, count: 1) == [7])
                try await s0.close()
                try await c0.close()
            }
        }
    }
}

extension SerializedTests.PollerTests {
    @Suite struct URingFeatureSettingTests {
        @Test func featureSettingsParseAndBadOnesNameTheRule() throws {
            typealias F = URingPoller.Features
            #expect(try F(parsing: "auto", name: "X") == .auto)
            #expect(try F(parsing: "none", name: "X") == .exactly([]))
            #expect(try F(parsing: "ACCEPT", name: "X") == .exactly([.accept]))
            #expect(F.auto.description == "auto" && F.exactly([]).description == "none")
            for bad in ["", "accept,", "fixed", "accept,bogus"] {
                #expect(throws: NetpollError.self) { try F(parsing: bad, name: "NETPOLL_URING_FEATURES") }
            }
            do {
                _ = try Settings.Environment(parsing: ["NETPOLL_URING_FEATURES": "turbo"])
                Issue.record("a bad NETPOLL_URING_FEATURES was accepted")
            } catch {
                #expect("\(error)".contains("NETPOLL_URING_FEATURES") && "\(error)".contains("accept"), "\(error)")
            }
            let env = try Settings.Environment(parsing: ["NETPOLL_URING_FEATURES": "none"])
            #expect(env.uring.features == .exactly([]))
        }

        /// A kernel without a feature: named with the Linux release it needs when asked
        /// for explicitly; left out silently under `auto`.
        @Test func aFeatureTheKernelLacksIsAnErrorOnlyWhenAskedFor() throws {
            let lacking: (URingPoller.Feature) -> String? = { "io_uring feature `\($0.rawValue)` (\($0.kernelName)) needs Linux \($0.since)+" }
            do {
                _ = try URingPoller.resolve(.exactly([.accept]), lacking: lacking)
                Issue.record("an explicit feature the kernel lacks was accepted")
            } catch {
                #expect("\(error)".contains("accept") && "\(error)".contains("5.19"), "\(error)")
            }
            let auto = try URingPoller.resolve(.auto, lacking: lacking)
            #expect(auto.used.isEmpty)
            #expect(auto.status.allSatisfy { $0.1.hasPrefix("not in this kernel") || $0.1.hasPrefix("off") })
            let none = try URingPoller.resolve(.exactly([]), lacking: { _ in nil })
            #expect(none.used.isEmpty && none.status.allSatisfy { $0.1 == "off (by setting)" })
            let all = try URingPoller.resolve(.exactly(Set(URingPoller.Feature.allCases)), lacking: { _ in nil })
            #expect(all.used == Set(URingPoller.Feature.allCases))
        }

        /// min-wait: a sleeping poll asks for a batch of 16 completions, but one that
        /// comes alone is still delivered (after the minimum wait, not at the timeout).
        @Test func aLoneCompletionIsDeliveredUnderMinWait() throws {
            guard URingPoller.Feature.minWait.unsupportedReason == nil else {
                print("skipped: \(URingPoller.Feature.minWait.unsupportedReason!)")
                return
            }
            let p = try URingPoller(options: .init(mode: .multishot, features: .exactly([.minWait])))
            defer { p.close() }
            #expect(p.waitsForBatch)
            let (a, b) = try makeSocketPair()
            defer { close(a); close(b) }
            let token = PollToken(slot: 1, seq: 1)
            try p.register(fd: a, token: token)
            _ = try p.poll(timeout: .milliseconds(100)) { _, _ in }  // the initial writable event
            #expect(writeBytes(b, [1]) == 1)
            let start = ContinuousClock.now
            var readable = false
            _ = try p.poll(timeout: .seconds(5)) { t, e in if t == token && e.contains(.read) { readable = true } }
            #expect(readable)
            #expect(ContinuousClock.now - start < .seconds(2), "a lone completion waited for the timeout")
            try p.deregister(fd: a, token: token)
        }

        /// What the poller reports for `netpoll info`: each feature and whether it is used.
        @Test(arguments: PollerConfig.all.filter { $0.backend.kind == .uring })
        func pollerFeaturesListEachOptionalFeature(_ config: PollerConfig) throws {
            guard config.canRunHere() else { return }
            let p = try #require(try config.makePoller() as? URingPoller)
            defer { p.close() }
            let details = Dictionary(uniqueKeysWithValues: p.features.details)
            for f in URingPoller.Feature.allCases {
                let said = try #require(details[f.rawValue], "no line for \(f.rawValue)")
                #expect(said == (p.featuresInUse.contains(f) ? "used" : said))
                #expect(p.featuresInUse.contains(f) == (said == "used"))
            }
            #expect(p.acceptsThroughRing == config.acceptsThroughRing)
        }
    }
}
