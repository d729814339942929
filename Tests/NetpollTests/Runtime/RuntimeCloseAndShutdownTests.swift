import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Close (Go: FD.Close → pd.evict) and loop-group shutdown wake every blocked waiter
// with the closed error and leave no descriptor behind.

extension SerializedTests.RuntimeTests {
    @Suite struct RuntimeCloseAndShutdownTests {
        @Test(arguments: loopConfigs)
        func closeWakesBlockedReaderAndWriterWithNetClosing(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let (a, b) = try makeSocketPair()
                defer { close(b) }
                let fd = try await FD.open(a, loop: loop, isSocket: true)
                let reader = Task(executorPreference: loop) { try await fd.readSome() }
                // More than the socket buffers hold, and nobody reads b: the write parks.
                let writer = Task { try await fd.writeAll([UInt8](repeating: 0x5A, count: 8 << 20)) }
                try await waitUntil("reader and writer parked") { fd.pd.readParked && fd.pd.writeParked }

                try await within(.seconds(5), "close") { try await fd.close() }
                let r = await outcome(of: reader, "blocked read after close")
                let w = await outcome(of: writer, "blocked write after close")
                #expect(netpollError(r) == .netClosing, "read ended with \(r)")
                #expect(netpollError(w) == .netClosing, "write ended with \(w)")
                // A closed FD refuses new operations with the same error.
                let again = await outcome(of: Task { try await fd.readSome() }, "read after close")
                #expect(netpollError(again) == .netClosing)
            }
        }

        @Test(arguments: loopConfigs)
        func shutdownEndsBlockedReadsWithNetClosingAndClosesEverything(config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            // Every descriptor the group and the FDs opened is closed once shutdown and
            // close have returned.
            try await withNoFDLeak {
                let group = try LoopGroup(loops: 2, backend: config.backend)
                var fds: [FD] = []
                var peers: [Int32] = []
                for i in 0..<4 {
                    let (a, b) = try makeSocketPair()
                    peers.append(b)
                    fds.append(try await FD.open(a, loop: group.loops[i % 2], isSocket: true))
                }
                // Readers 0, 1 on the global executor; 2 and 3 on loop 0 (2's FD is on loop 0,
                // 3's on loop 1).
                let readers = fds.enumerated().map { i, fd in
                    let pref: (any TaskExecutor)? = i < 2 ? nil : group.loops[0]
                    return Task(executorPreference: pref) { try await fd.readSome() }
                }
                try await waitUntil("every reader parked") { fds.allSatisfy { $0.pd.readParked } }

                group.shutdown()
                for (i, t) in readers.enumerated() {
                    let r = await outcome(of: t, "reader \(i) after shutdown")
                    #expect(netpollError(r) == .netClosing, "reader \(i) ended with \(r)")
                }
                for fd in fds {
                    try await within(.seconds(5), "close after shutdown") { try await fd.close() }
                }
                for b in peers { close(b) }
            }
        }

        /// A loop's per-event state (its PollDesc cache and run queues) lives behind a
        /// pointer the loop frees in `deinit`. A stopped loop must therefore still be
        /// freed: once its group is shut down and the last descriptor on it closed,
        /// nothing may keep it alive, and its descriptors' PollDescs go with it.
        @Test(arguments: loopConfigs)
        func aStoppedLoopIsFreedWithItsLastDescriptor(config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            try await withNoFDLeak {
                let (loop, pd) = try await Self.readOnceThenStopAndClose(config)
                // The loop's thread may still be letting go of the job that closed the
                // descriptor when `close()` returns (its last reference goes when that
                // job returns): freed within a bound, not at that instant.
                try await waitUntil("the closed descriptor's PollDesc is freed") { pd.value == nil }
                try await waitUntil("the stopped loop is freed after its last descriptor closed") { loop.value == nil }
            }
        }

        /// One event and one resumed task through a fresh loop's cache and queues,
        /// then shutdown, then close; every strong reference ends with this call.
        private static func readOnceThenStopAndClose(
            _ config: PollerConfig
        ) async throws -> (WeakRef<EventLoop>, WeakRef<PollDesc>) {
            let group = try LoopGroup(loops: 1, backend: config.backend)
            let (a, b) = try makeSocketPair()
            defer { close(b) }
            let fd = try await FD.open(a, loop: group.loops[0], isSocket: true)
            #expect(write(b, "x", 1) == 1)
            let got = try await Task(executorPreference: group.loops[0]) { try await fd.readSome() }.value
            #expect(got == [UInt8(ascii: "x")])
            group.shutdown()
            try await within(.seconds(5), "close after shutdown") { try await fd.close() }
            return (WeakRef(group.loops[0]), WeakRef(fd.pd))
        }
    }
}

/// A weak reference that can cross tasks (tests only).
final class WeakRef<T: AnyObject>: @unchecked Sendable {
    weak var value: T?
    init(_ value: T) { self.value = value }
}
