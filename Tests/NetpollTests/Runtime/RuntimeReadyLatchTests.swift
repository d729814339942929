import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go's rg/wg rules: `ready` is a latch the next wait consumes, pollReset clears a
// stale one, and there is at most one waiter per mode.

extension SerializedTests.RuntimeTests {
    @Suite struct RuntimeReadyLatchTests {
        /// Makes the pipe readable with nobody waiting, lets the event arrive (the latch
        /// is set), then drains the pipe and lets the loop go quiet: one-shot io_uring
        /// re-reports a still-readable pipe, and only the latch is under test here.
        private func latchReady(_ pd: PollDesc, _ p: (r: Int32, w: Int32), _ loop: EventLoop) async throws {
            #expect(writeBytes(p.w, [7]) == 1)
            try await waitUntil("read latch set by the event") { pd.readState == PollDesc.pdReady }
            #expect(readRaw(p.r) == [7])
            await waitForQuietLoop(loop)
            #expect(pd.readState == PollDesc.pdReady, "the latch stays set until a wait or a reset consumes it")
        }

        @Test(arguments: loopConfigs)
        func readyIsALatchConsumedByTheNextWait(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                try await latchReady(pd, p, loop)

                // The first wait consumes the latch and returns at once.
                let first = try await within(.seconds(2), "wait with a pending ready") { await pd.wait(.read) }
                #expect(first == .ok)
                #expect(pd.readState == PollDesc.pdNil)

                // A second wait, with no new data, parks.
                let done = Flag()
                let second = Task { () async throws -> PollCheck? in
                    defer { done.set() }
                    return await pd.wait(.read)
                }
                try await waitUntil("second waiter parked") { pd.readParked }
                try await Task.sleep(for: .milliseconds(100))
                #expect(!done.isSet, "a consumed latch must not satisfy a second wait")
                #expect(pd.readParked)

                // New data wakes it.
                #expect(writeBytes(p.w, [8]) == 1)
                let r = await outcome(of: second, "second wait after new data")
                #expect((try? r.get()) == .ok)
                try await closeRaw(pd, on: loop)
            }
        }

        @Test(arguments: loopConfigs)
        func prepareClearsAStaleReady(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.r); close(p.w) }
                let pd = try await loop.open(fd: p.r)
                try await latchReady(pd, p, loop)

                // Go: pollReset. The latch is gone, so the next wait parks.
                #expect(pd.prepare(.read) == .ok)
                #expect(pd.readState == PollDesc.pdNil)
                let done = Flag()
                let waiter = Task { () async throws -> PollCheck? in
                    defer { done.set() }
                    return await pd.wait(.read)
                }
                try await waitUntil("waiter parked after reset") { pd.readParked }
                try await Task.sleep(for: .milliseconds(100))
                #expect(!done.isSet, "a reset latch must not satisfy the wait")

                #expect(writeBytes(p.w, [9]) == 1)
                let r = await outcome(of: waiter, "wait after new data")
                #expect((try? r.get()) == .ok)
                try await closeRaw(pd, on: loop)
            }
        }

        /// A second waiter on the same PollDesc mode is a programming error that stops
        /// the program with "netpoll: double wait" (Go: throw("runtime: double wait")).
        /// Checked in a child process (a Swift Testing exit test).
        @Test(arguments: loopConfigs)
        func doubleWaitStopsTheProgram(config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            let name = config.name
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [name = name as String] in
                let config = loopConfigs.first { $0.name == name }!
                let group = try LoopGroup(loops: 1, backend: config.backend)
                let loop = group.loops[0]
                let p = try makePipe()
                let pd = try await loop.open(fd: p.r)
                let first = Task { await pd.wait(.read) }
                while !pd.readParked { try await Task.sleep(for: .milliseconds(1)) }
                _ = await pd.wait(.read)  // must stop the process
                _ = first
                print("child: second wait returned")
            }
            if let result {
                let err = String(decoding: result.standardErrorContent, as: UTF8.self)
                #expect(err.contains("netpoll: double wait"), "child stderr: \(err)")
            }
        }
    }
}
