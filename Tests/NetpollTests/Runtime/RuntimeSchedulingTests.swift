import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Park and resume (Go: gopark / goready): who runs a woken task, where, and that no
// wakeup is lost; cancellation of a parked task.

extension SerializedTests.RuntimeTests {
    @Suite struct RuntimeSchedulingTests {
        /// 10,000 round trips of one byte between a task on loop 0 and one on loop 1,
        /// over two pipes: every read parks, every write resumes the other side. Prints
        /// the loops' counters and the cost per round trip (for the backend comparison).
        @Test(arguments: loopConfigs)
        func pingPongBetweenTwoLoopsLosesNoWakeup(config: PollerConfig) async throws {
            try await withLoopGroup(config, loops: 2) { group in
                let rounds = 10_000
                let loop0 = group.loops[0], loop1 = group.loops[1]
                // A writes p1 and reads p2 on loop 0; B reads p1 and writes p2 on loop 1.
                let pipes = try await PingPongPipes.open(loop0, loop1)
                let p1r = pipes.p1r, p2w = pipes.p2w
                let s0 = loop0.statistics, s1 = loop1.statistics
                let clock = ContinuousClock()
                let start = clock.now

                let b = Task(executorPreference: loop1) { () async throws -> Int in
                    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                    defer { buf.deallocate() }
                    for i in 0..<rounds {
                        let n = try await p1r.read(into: buf)
                        guard n == 1, buf[0] == UInt8(truncatingIfNeeded: i) else {
                            throw SystemCallFailed(call: "B round \(i): read \(n) byte(s)", errno: 0)
                        }
                        try await p2w.write(UnsafeRawBufferPointer(buf))
                    }
                    return rounds
                }
                let a = pipes.ping(rounds: rounds, on: loop0)
                let ra = await outcome(of: a, within: .seconds(60), "ping-pong task A")
                let rb = await outcome(of: b, within: .seconds(60), "ping-pong task B")
                let elapsed = clock.now - start
                #expect((try? ra.get()) == rounds, "A: \(ra)")
                #expect((try? rb.get()) == rounds, "B: \(rb)")

                let d0 = delta(loop0.statistics, s0), d1 = delta(loop1.statistics, s1)
                let sum = d0 + d1
                #expect(sum.parks > 0, "the reads never parked")
                #expect(sum.ioSyscalls >= UInt64(4 * rounds))
                let per = { (x: UInt64) in fmt2(Double(x) / Double(rounds)) }
                print(
                    "ping-pong [\(config.name)] \(rounds) round trips in \(Int(elapsed.milliseconds)) ms"
                        + " | loop0: \(line(d0)) | loop1: \(line(d1))"
                        + " | per round trip: poll calls \(per(sum.pollCalls)), syscalls \(per(sum.syscalls))"
                        + " (poll \(per(sum.pollSyscalls)) + io \(per(sum.ioSyscalls)) + wakes \(per(sum.wakes))),"
                        + " parks \(per(sum.parks)), events \(per(sum.events))")
                try await pipes.close()
            }
        }

        private func delta(_ a: LoopStats, _ b: LoopStats) -> LoopStats {
            var s = LoopStats()
            s.pollCallsBlocking = a.pollCallsBlocking - b.pollCallsBlocking
            s.pollCallsNonblocking = a.pollCallsNonblocking - b.pollCallsNonblocking
            s.pollSyscalls = a.pollSyscalls - b.pollSyscalls
            s.ioSyscalls = a.ioSyscalls - b.ioSyscalls
            s.events = a.events - b.events
            s.parks = a.parks - b.parks
            s.wakes = a.wakes - b.wakes
            return s
        }

        private func line(_ s: LoopStats) -> String {
            "poll calls \(s.pollCalls) (\(s.pollCallsBlocking) blocking), pollSyscalls \(s.pollSyscalls),"
                + " ioSyscalls \(s.ioSyscalls), wakes \(s.wakes), parks \(s.parks), events \(s.events)"
        }

        @Test(arguments: loopConfigs)
        func taskResumedOnItsLoopRunsOnTheLoopThread(config: PollerConfig) async throws {
            try await withLoopGroup(config, loops: 2) { group in
                for loop in group.loops {
                    let p = try makePipe()
                    defer { close(p.w) }
                    let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                    let parks0 = loop.statistics.parks
                    let t = Task(executorPreference: loop) { () async throws -> (Bool, Bool, [UInt8]) in
                        let data = try await fd.readSome()
                        return (EventLoop.current === loop, loop.inEventLoop, data)
                    }
                    try await waitUntil("reader parked") { fd.pd.readParked }
                    #expect(writeBytes(p.w, [3]) == 1)
                    let r = try await outcome(of: t, "reader on \(loop)").get()
                    #expect(loop.statistics.parks > parks0, "the read did not park")
                    #expect(r.0, "EventLoop.current is not \(loop) after the resume")
                    #expect(r.1, "inEventLoop is false after the resume")
                    #expect(r.2 == [3])
                    try await fd.close()
                }
            }
        }

        @Test(arguments: loopConfigs)
        func tasksOnTheGlobalExecutorAreResumed(config: PollerConfig) async throws {
            try await withLoopGroup(config, loops: 2) { group in
                let n = 4, rounds = 20
                var fds: [FD] = [], writers: [Int32] = []
                for i in 0..<n {
                    let p = try makePipe()
                    writers.append(p.w)
                    fds.append(try await FD.open(p.r, loop: group.loops[i % 2], isSocket: false))
                }
                defer { for w in writers { close(w) } }
                let offLoop = Counter()
                let readers = fds
                let reads = (0..<n).map { _ in Counter() }
                let tasks = (0..<n).map { i in
                    Task { () async throws -> [UInt8] in
                        var got: [UInt8] = []
                        for _ in 0..<rounds {
                            got += try await readers[i].readSome()
                            if EventLoop.current != nil { offLoop.add() }
                            reads[i].add()
                        }
                        return got
                    }
                }
                for r in 0..<rounds {
                    // Write only once every reader has finished round r-1 and parked again:
                    // each byte is one park and one resume.
                    let ready: Void? = try? await waitUntil("round \(r): readers parked") {
                        (0..<n).allSatisfy { reads[$0].value == r && fds[$0].pd.readParked }
                    }
                    guard ready != nil else { break }
                    for w in writers { #expect(writeBytes(w, [UInt8(r)]) == 1) }
                }
                for (i, t) in tasks.enumerated() {
                    let r = await outcome(of: t, "global reader \(i)")
                    #expect((try? r.get()) == (0..<rounds).map { UInt8($0) }, "reader \(i): \(r)")
                }
                #expect(offLoop.value == 0, "a task without executor preference ran on a loop thread")
                for fd in fds { try await fd.close() }
            }
        }

        @Test(arguments: loopConfigs)
        func cancellingABlockedReadThrowsCancellationAndLeavesTheFDUsable(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                for pref: (any TaskExecutor)? in [nil, loop] {
                    let t = Task(executorPreference: pref) { try await fd.readSome() }
                    try await waitUntil("reader parked") { fd.pd.readParked }
                    t.cancel()
                    let r = await outcome(of: t, "cancelled read")
                    #expect(isCancellation(r), "cancelled read ended with \(r)")
                    #expect(fd.pd.readState == PollDesc.pdNil)
                }
                // Still usable: a new read parks and gets data written later.
                let again = Task(executorPreference: loop) { try await fd.readSome() }
                try await waitUntil("new reader parked") { fd.pd.readParked }
                #expect(writeBytes(p.w, [5, 6]) == 2)
                let r = await outcome(of: again, "read after cancellation")
                #expect((try? r.get()) == [5, 6], "\(r)")
                try await fd.close()
            }
        }
    }
}
