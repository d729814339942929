import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// The two parks serveOnInput and serve build on, tested on their own rather than
// only end to end (ServeOnInputTests, CancellationTests):
//
// - Dormant (PollDesc+Dormant.swift): a reader parked with no task, a DormantWake in
//   place of the continuation. Woken exactly once, by input, its read deadline or
//   close; refused (false, nothing parked, no wake) when a ready is latched or an
//   error is pending. And retirement: the idle sweep ends a retirable wait with
//   `.retired` on its second pass, I/O wins over it, and input after it is not lost.
// - Covered (PollDesc+Cover.swift, FD+Cover.swift): a park by a task its server
//   covers skips the cancellation handler; the server's cancel (CoveredWaits.cancel)
//   uncovers and wakes it, and a woken task parks again with a handler if its own
//   cancellation has not come yet.

extension SerializedTests.RuntimeTests {
    @Suite struct ParkingTests {
        /// A wake that counts its runs and notes whether one ran on `loop`'s thread.
        private static func countingWake(_ wakes: Counter, onLoop: Flag? = nil, _ loop: EventLoop) -> DormantWake {
            DormantWake {
                // The flag before the count: a test waits for the count, then reads
                // the flag (CI under TSan once read it between the two).
                if EventLoop.current === loop { onLoop?.set() }
                wakes.add()
            }
        }

        /// One idle sweep, run to its end on the loop thread.
        private static func sweep(_ loop: EventLoop) async throws {
            try await loop.submit { loop.retireIdleReaders() }
        }

        private static func retireMark(_ fd: FD) -> UInt8 { fd.pd.retireMark.load(ordering: .relaxed) }

        private static func covers(_ fd: FD) -> Bool { fd.pd.coveredTask.load(ordering: .sequentiallyConsistent) != 0 }

        // MARK: dormant: what wakes it, once

        @Test(arguments: loopConfigs)
        func aDormantParkIsWokenOnceByInputOnTheLoopThread(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                let wakes = Counter(), onLoop = Flag(), sawNil = Flag()
                let before = loop.statistics.dormantParks
                let parked = pd.parkDormant(DormantWake {
                    // The word is back to nil before the wake runs: the notification is
                    // consumed, and the reader's first read finds the input itself.
                    if pd.readState == PollDesc.pdNil { sawNil.set() }
                    if EventLoop.current === loop { onLoop.set() }  // before the count, as above
                    wakes.add()
                })
                #expect(parked)
                #expect(pd.readParked)
                #expect(loop.statistics.dormantParks == before + 1)
                try await Task.sleep(for: .milliseconds(50))
                #expect(wakes.value == 0, "woken with no input")

                #expect(writeBytes(p.w, [1]) == 1)
                try await waitUntil("dormant reader woken by input") { wakes.value > 0 }
                #expect(onLoop.isSet, "input wakes it on the loop thread")
                #expect(sawNil.isSet, "the wake ran before the word went back to nil")
                // More input wakes nobody: the park was used up.
                #expect(writeBytes(p.w, [2]) == 1)
                await waitForQuietLoop(loop)
                #expect(wakes.value == 1)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 1, "close after the wake runs it again")
            }
        }

        @Test(arguments: loopConfigs)
        func aDormantParkIsWokenOnceByItsReadDeadline(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                let wakes = Counter(), onLoop = Flag()
                pd.setDeadline(50_000_000, .read)
                #expect(pd.parkDormant(Self.countingWake(wakes, onLoop: onLoop, loop)))
                try await waitUntil("dormant reader woken by its deadline") { wakes.value > 0 }
                #expect(onLoop.isSet, "deadline timers fire on the loop thread")
                #expect(pd.checkErr(.read) == .timeout, "the woken reader finds its deadline expired")
                #expect(!pd.readParked)
                try await Task.sleep(for: .milliseconds(100))
                #expect(wakes.value == 1)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 1)
            }
        }

        /// Close (evict) runs the wake itself, on the closing thread, before it returns.
        @Test(arguments: loopConfigs)
        func aDormantParkIsWokenOnceByClose(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                let wakes = Counter(), onLoop = Flag()
                #expect(pd.parkDormant(Self.countingWake(wakes, onLoop: onLoop, loop)))
                pd.evict()
                #expect(wakes.value == 1, "evict returned before the wake ran")
                #expect(!onLoop.isSet, "the wake runs on the thread that closed, not the loop's")
                #expect(pd.checkErr(.read) == .closing)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 1)
            }
        }

        /// Input, an expired deadline and close all at once, from different threads:
        /// one wake, whichever comes first (the unblocks' CAS from `parked` decides).
        @Test(arguments: loopConfigs)
        func inputDeadlineAndCloseAtOnceWakeADormantParkExactlyOnce(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                for round in 0..<20 {
                    let p = try makePipe()
                    defer { close(p.r); close(p.w) }
                    let pd = try await loop.open(fd: p.r)
                    let wakes = Counter()
                    #expect(pd.parkDormant(Self.countingWake(wakes, loop)))
                    var actions: [@Sendable () -> Void] = [
                        { _ = writeBytes(p.w, [1]) },
                        { pd.setDeadline(-1, .read) },
                        { pd.evict() },
                    ]
                    actions.shuffle()
                    await withTaskGroup(of: Void.self) { g in
                        for a in actions { g.addTask { a() } }
                    }
                    try await waitUntil("round \(round): woken") { wakes.value > 0 }
                    await waitForQuietLoop(loop)
                    #expect(wakes.value == 1, "round \(round): woken \(wakes.value) times")
                    try await closeRaw(pd, on: loop)
                }
            }
        }

        // MARK: dormant: when it does not park

        @Test(arguments: loopConfigs)
        func parkDormantWithALatchedReadyConsumesItAndDoesNotPark(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                // Latch a ready with nobody waiting, then empty the pipe and let the loop
                // go quiet (one-shot io_uring re-reports a pipe still readable).
                #expect(writeBytes(p.w, [7]) == 1)
                try await waitUntil("read latch set by the event") { pd.readState == PollDesc.pdReady }
                #expect(readRaw(p.r) == [7])
                await waitForQuietLoop(loop)
                try #require(pd.readState == PollDesc.pdReady)

                let wakes = Counter()
                let before = loop.statistics.dormantParks
                #expect(!pd.parkDormant(Self.countingWake(wakes, loop)), "parked over a latched ready")
                #expect(pd.readState == PollDesc.pdNil, "the latch is consumed, as by a wait")
                #expect(loop.statistics.dormantParks == before)
                try await Task.sleep(for: .milliseconds(50))
                #expect(wakes.value == 0, "a refused park's wake ran: only its caller may run it")

                // The latch is gone: the next park parks.
                #expect(pd.parkDormant(Self.countingWake(wakes, loop)))
                #expect(pd.readParked)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 1)
            }
        }

        @Test(arguments: loopConfigs)
        func parkDormantPastTheReadDeadlineDoesNotPark(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                pd.setDeadline(-1, .read)
                let wakes = Counter()
                #expect(!pd.parkDormant(Self.countingWake(wakes, loop)))
                #expect(pd.readState == PollDesc.pdNil, "left in wait: the next park would be a double wait")
                // Cleared, the deadline no longer stops it.
                pd.setDeadline(0, .read)
                #expect(pd.parkDormant(Self.countingWake(wakes, loop)))
                #expect(wakes.value == 0)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 1, "only the park that parked is woken")
            }
        }

        @Test(arguments: loopConfigs)
        func parkDormantOnAClosingDescriptorDoesNotPark(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                pd.evict()
                let wakes = Counter()
                #expect(!pd.parkDormant(Self.countingWake(wakes, loop)))
                #expect(pd.readState == PollDesc.pdNil)
                try await closeRaw(pd, on: loop)
                #expect(wakes.value == 0)
            }
        }

        /// A new connection parks dormant for its first input (serveOnInput): input
        /// already there is not lost — the park refuses (the caller runs the wake), or
        /// it parks and is woken. Through the ring's RECV in completion mode.
        @Test(arguments: loopConfigs)
        func inputBeforeTheFirstDormantParkIsNotLost(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let (a, b) = try makeSocketPair()
                defer { close(b) }
                #expect(writeBytes(b, [1, 2, 3]) == 3)
                let fd = try await FD.open(streamSocket: a, loop: loop, role: .connection)
                #expect(fd.ringReceive == config.isCompletion, "completion mode reads a connection through the ring")
                await waitForQuietLoop(loop)
                let wakes = Counter()
                try await fd.readLock()
                if fd.parkReaderDormant(Self.countingWake(wakes, loop)) {
                    try await waitUntil("parked over input already there, and not woken") { wakes.value > 0 }
                } else {
                    #expect(wakes.value == 0)
                }
                fd.readUnlock()
                #expect(try await within(.seconds(5), "read") { try await fd.readSome() } == [1, 2, 3])
                try await fd.close()
                #expect(wakes.value <= 1)
            }
        }

        /// A connection parked dormant (holding its read lock, as serveOnInput's parked
        /// state does) is woken by input, and its read then finds that input. In
        /// completion mode the park asks the loop for a RECV, whose receipt wakes it.
        @Test(arguments: loopConfigs)
        func aDormantConnectionIsWokenByInputAndItsReadFindsIt(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let (a, b) = try makeSocketPair()
                defer { close(b) }
                let fd = try await FD.open(streamSocket: a, loop: loop, role: .connection)
                #expect(fd.ringReceive == config.isCompletion, "completion mode reads a connection through the ring")
                let wakes = Counter()
                try await fd.readLock()
                #expect(fd.parkReaderDormant(Self.countingWake(wakes, loop)))
                if config.isCompletion {
                    // model: RING_REQUEST, then the loop's RING_STORE_RUNNING: the park
                    // handed the socket to a RECV, whose receipt is what will wake it.
                    try await waitUntil("RECV started for the dormant reader") {
                        fd.pd.ringState.load(ordering: .acquiring) == PollDesc.ringRunning
                    }
                }
                try await Task.sleep(for: .milliseconds(20))
                #expect(wakes.value == 0)
                #expect(writeBytes(b, [4, 5, 6]) == 3)
                try await waitUntil("dormant connection woken by input") { wakes.value > 0 }
                fd.readUnlock()
                #expect(try await within(.seconds(5), "read after the wake") { try await fd.readSome() } == [4, 5, 6])
                try await fd.close()
                #expect(wakes.value == 1)
            }
        }

        // MARK: retirement

        /// The idle sweep's first pass only marks a retirable reader; the second,
        /// finding it still parked, wakes it without I/O: the wait returns `.retired`
        /// (waitReadable: false, nothing read) and the mark is cleared.
        @Test(arguments: loopConfigs)
        func theIdleSweepRetiresARetirableWaitOnItsSecondPass(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let waiter = Task { try await fd.waitReadable(retiring: true) }
                try await waitUntil("retirable wait parked") {
                    fd.pd.readParked && Self.retireMark(fd) == PollDesc.retireParked
                }
                let before = loop.statistics.readersRetired
                try await Self.sweep(loop)
                #expect(Self.retireMark(fd) == PollDesc.retireSeen)
                #expect(fd.pd.readParked, "retired on the first sweep: it may have parked just before it")
                try await Self.sweep(loop)
                let r = await outcome(of: waiter, "retired wait")
                #expect((try? r.get()) == false, "a retired wait returns false; it ended with \(r)")
                #expect(Self.retireMark(fd) == PollDesc.retireNone, "the mark is reset after the wait")
                #expect(loop.statistics.readersRetired == before + 1)
                try await fd.close()
            }
        }

        @Test(arguments: loopConfigs)
        func aWaitThatIsNotRetirableIsNeverRetired(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let waiter = Task { try await fd.waitReadable() }
                try await waitUntil("wait parked") { fd.pd.readParked }
                for _ in 0..<3 { try await Self.sweep(loop) }
                #expect(fd.pd.readParked)
                #expect(Self.retireMark(fd) == PollDesc.retireNone)
                #expect(writeBytes(p.w, [1]) == 1)
                let r = await outcome(of: waiter, "wait after input")
                #expect((try? r.get()) != nil, "ended with \(r)")
                try await fd.close()
            }
        }

        /// The race the sweep loses: input lands between the sweep marking the reader
        /// `requested` and its unblock. The input's unblock takes the reader; the
        /// sweep's finds `ready` and wakes nobody; the wait returns readable, not
        /// retired. (The steps are sweepRetire's, run on the loop thread with the
        /// input's ready between them.)
        @Test(arguments: loopConfigs)
        func inputWinsOverARetirementRequestedAtTheSameTime(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let waiter = Task { try await fd.waitReadable(retiring: true) }
                try await waitUntil("retirable wait parked") {
                    fd.pd.readParked && Self.retireMark(fd) == PollDesc.retireParked
                }
                try await Self.sweep(loop)
                let pd = fd.pd
                let sweepWokeNobody = try await loop.submit { () -> Bool in
                    let marked = pd.retireMark.compareExchange(
                        expected: PollDesc.retireSeen, desired: PollDesc.retireRequested, ordering: .relaxed
                    ).exchanged
                    pd.ready(.read)  // the input's unblock (netpollready)
                    return marked && pd.unblock(.read, ioready: false) == nil
                }
                #expect(sweepWokeNobody)
                let r = await outcome(of: waiter, "wait woken by input")
                #expect((try? r.get()) == true, "input lost to the retirement: \(r)")
                #expect(Self.retireMark(fd) == PollDesc.retireNone)
                try await fd.close()
            }
        }

        /// After retirement the connection parks dormant (serveTurns → IdleConnections):
        /// input then wakes it, whether it came after the park or in between.
        @Test(arguments: loopConfigs, [false, true])
        func inputAfterRetirementWakesTheDormantPark(config: PollerConfig, inputBeforePark: Bool) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let waiter = Task { try await fd.waitReadable(retiring: true) }
                try await waitUntil("retirable wait parked") {
                    fd.pd.readParked && Self.retireMark(fd) == PollDesc.retireParked
                }
                try await Self.sweep(loop)
                try await Self.sweep(loop)
                let r = await outcome(of: waiter, "retired wait")
                try #require((try? r.get()) == false, "not retired: \(r)")

                if inputBeforePark {
                    // Woken without taking input, so this arrival latches ready.
                    #expect(writeBytes(p.w, [1]) == 1)
                    try await waitUntil("input latched") { fd.pd.readState == PollDesc.pdReady }
                }
                let wakes = Counter()
                try await fd.readLock()
                let parked = fd.parkReaderDormant(Self.countingWake(wakes, loop))
                #expect(parked == !inputBeforePark, "a latched ready must refuse the park; none must park")
                if parked {
                    #expect(writeBytes(p.w, [1]) == 1)
                    try await waitUntil("dormant park woken by input") { wakes.value > 0 }
                }
                fd.readUnlock()
                #expect(try await within(.seconds(5), "read") { try await fd.readSome() } == [1])
                try await fd.close()
                #expect(wakes.value == (parked ? 1 : 0))
            }
        }

        // MARK: covered

        /// A covered park has no cancellation handler: its task's cancellation alone
        /// leaves it parked (the evidence the cover is in effect), and the server's
        /// cancel wakes it to find the cancellation.
        @Test(arguments: loopConfigs)
        func aCoveredParkIsWokenByItsServersCancelNotByItsTaskAlone(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let covered = CoveredWaits()
                let waiter = Task {
                    covered.cover(fd)
                    defer { covered.uncover(fd) }
                    try await fd.waitReadable()
                }
                try await waitUntil("covered wait parked") { fd.pd.readParked && Self.covers(fd) }
                waiter.cancel()
                try await Task.sleep(for: .milliseconds(100))
                #expect(fd.pd.readParked, "a covered park heard its task's cancellation by itself")

                covered.cancel()
                #expect(!Self.covers(fd), "the server's cancel uncovers")
                let r = await outcome(of: waiter, "covered wait after the server's cancel")
                #expect(isCancellation(r), "ended with \(r)")
                try await fd.close()
            }
        }

        /// The runtime may flag the group's tasks after the server heard of the
        /// cancellation: a covered task woken before its own flag is set parks again,
        /// uncovered, with a handler, which its cancellation then wakes.
        @Test(arguments: loopConfigs)
        func aCoveredTaskWokenBeforeItIsCancelledParksAgainWithAHandler(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let covered = CoveredWaits()
                let waiter = Task {
                    covered.cover(fd)
                    defer { covered.uncover(fd) }
                    try await fd.waitReadable()
                }
                try await waitUntil("covered wait parked") { fd.pd.readParked && Self.covers(fd) }
                let parks = loop.statistics.parks
                covered.cancel()
                try await waitUntil("woken, parked again") { loop.statistics.parks > parks && fd.pd.readParked }
                #expect(!Self.covers(fd))

                waiter.cancel()
                let r = await outcome(of: waiter, "uncovered wait after its task's cancellation")
                #expect(isCancellation(r), "ended with \(r)")
                try await fd.close()
            }
        }

        /// A server that has cancelled covers nothing more: a task that asks afterwards
        /// keeps its handler, so its own cancellation wakes it.
        @Test(arguments: loopConfigs)
        func aTaskCoveredAfterTheServerCancelledKeepsItsHandler(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let covered = CoveredWaits()
                covered.cancel()
                let waiter = Task {
                    covered.cover(fd)
                    defer { covered.uncover(fd) }
                    try await fd.waitReadable()
                }
                try await waitUntil("wait parked") { fd.pd.readParked }
                #expect(!Self.covers(fd))
                waiter.cancel()
                let r = await outcome(of: waiter, "wait after its task's cancellation")
                #expect(isCancellation(r), "ended with \(r)")
                try await fd.close()
            }
        }

        /// Input, the server's cancel and (every other round) the task's own
        /// cancellation at once: the covered wait ends exactly once, readable or
        /// cancelled (a second resume of its continuation would run its end twice or
        /// crash), and leaves nothing parked.
        @Test(arguments: loopConfigs)
        func aCoveredWaitRacingInputAndCancellationEndsOnce(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                for round in 0..<30 {
                    let p = try makePipe()
                    defer { close(p.w) }
                    let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                    let covered = CoveredWaits()
                    let ends = Counter()
                    let waiter = Task {
                        covered.cover(fd)
                        defer { covered.uncover(fd) }
                        defer { ends.add() }
                        try await fd.waitReadable()
                    }
                    try await waitUntil("round \(round): covered wait parked") { fd.pd.readParked && Self.covers(fd) }
                    let cancelTask = round % 2 == 0
                    var actions: [@Sendable () -> Void] = [{ _ = writeBytes(p.w, [1]) }, { covered.cancel() }]
                    if cancelTask { actions.append { waiter.cancel() } }
                    actions.shuffle()
                    await withTaskGroup(of: Void.self) { g in
                        for a in actions { g.addTask { a() } }
                    }
                    let r = await outcome(of: waiter, "round \(round): covered wait")
                    switch r {
                    case .success: break
                    case .failure(let e) where e is CancellationError:
                        #expect(cancelTask, "round \(round): cancelled, but its task was not")
                    case .failure(let e):
                        Issue.record("round \(round): ended with \(e)")
                    }
                    await waitForQuietLoop(loop, quiet: .milliseconds(10))
                    #expect(ends.value == 1, "round \(round): the wait ended \(ends.value) times")
                    #expect(!fd.pd.readParked, "round \(round)")
                    try await fd.close()
                }
            }
        }

        /// A handler that closes its connection while covered (serveTurns uncovers
        /// only afterwards): the slot's next descriptor starts uncovered.
        @Test(arguments: loopConfigs)
        func aPollDescReusedAfterACoveredCloseStartsUncovered(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let (covered, closedPD) = try await Self.closeWhileCovered(loop)
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                try #require(fd.pd === closedPD, "the cache did not hand the freed slot out again")
                #expect(!Self.covers(fd))
                covered.cancel()
                try await fd.close()
            }
        }

        /// The server's cancel skips a covered descriptor its task has closed: that
        /// PollDesc may serve another descriptor already, whose waiter it must not
        /// wake (it would park again: one park more).
        @Test(arguments: loopConfigs)
        func aServersCancelLeavesADescriptorItsTaskClosedAlone(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let (covered, closedPD) = try await Self.closeWhileCovered(loop)
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                try #require(fd.pd === closedPD, "the cache did not hand the freed slot out again")
                let waiter = Task { try await fd.waitReadable() }
                try await waitUntil("the new descriptor's wait parked") { fd.pd.readParked }
                let parks = loop.statistics.parks
                covered.cancel()
                try await Task.sleep(for: .milliseconds(50))
                #expect(loop.statistics.parks == parks, "the new descriptor's waiter was woken")
                #expect(fd.pd.readParked)
                #expect(writeBytes(p.w, [1]) == 1)
                let r = await outcome(of: waiter, "wait after input")
                #expect((try? r.get()) != nil, "ended with \(r)")
                try await fd.close()
            }
        }

        /// A task covers a pipe's descriptor and closes it (without uncovering): the
        /// server's CoveredWaits, and the freed PollDesc.
        private static func closeWhileCovered(_ loop: EventLoop) async throws -> (CoveredWaits, PollDesc) {
            let p = try makePipe()
            defer { close(p.w) }
            let fd = try await FD.open(p.r, loop: loop, isSocket: false)
            let covered = CoveredWaits()
            try await Task {
                covered.cover(fd)
                #expect(Self.covers(fd))
                try await fd.close()
            }.value
            return (covered, fd.pd)
        }
    }
}
