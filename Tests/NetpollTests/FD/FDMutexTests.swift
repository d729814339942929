import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Go: internal/poll/fd_mutex_test.go — TestMutexLock, TestMutexClose,
// TestMutexCloseUnblock, TestMutexPanic (an overflow is an error here) and
// TestMutexStress, which involve no backend; then, on every backend, what the
// mutex guarantees the FD's read loop.

/// FDMutex is non-copyable and lives inline in its FD; the tests share one
/// between tasks through this box.
final class MutexBox: Sendable {
    let m = FDMutex()
    func incref() throws(NetpollError) -> Bool { try m.incref() }
    func decref() -> Bool { m.decref() }
    func increfAndClose() throws(NetpollError) -> Bool { try m.increfAndClose() }
    func rwlock(read: Bool) async throws(NetpollError) -> Bool { try await m.rwlock(read: read) }
    func rwunlock(read: Bool) -> Bool { m.rwunlock(read: read) }
}

extension SerializedTests.FDTests {
    @Suite struct FDMutexTests {
        private static func waiters(_ mu: MutexBox, read: Bool) -> UInt64 {
            let s = mu.m.state.load(ordering: .acquiring)
            return read ? (s & FDMutex.rMask) / FDMutex.rWait : (s & FDMutex.wMask) / FDMutex.wWait
        }

        @Test func readAndWriteLocksCanBeHeldTogether() async throws {
            let mu = MutexBox()
            #expect(try mu.incref())
            #expect(!mu.decref())
            #expect(try await mu.rwlock(read: true))
            #expect(!mu.rwunlock(read: true))
            #expect(try await mu.rwlock(read: false))
            #expect(!mu.rwunlock(read: false))

            // One read and one write lock at the same time, plus a plain reference.
            #expect(try await mu.rwlock(read: true))
            #expect(try await mu.rwlock(read: false))
            #expect(try mu.incref())
            #expect(!mu.rwunlock(read: true))
            #expect(!mu.rwunlock(read: false))
            #expect(!mu.decref())
            let loaded = mu.m.state.load(ordering: .relaxed)
            #expect(loaded == 0, "every lock and reference released")
        }

        @Test(arguments: [true, false])
        func twoLocksOfOneKindSerialise(read: Bool) async throws {
            let mu = MutexBox()
            #expect(try await mu.rwlock(read: read))
            let acquired = Flag()
            let second = Task {
                let ok = try await mu.rwlock(read: read)
                acquired.set()
                return ok
            }
            try await waitUntil(within: .seconds(5), "second lock queued as a waiter") { Self.waiters(mu, read: read) == 1 }
            try await Task.sleep(for: .milliseconds(30))
            let loaded = acquired.isSet
            #expect(!loaded, "second \(read ? "read" : "write") lock taken while the first is held")
            #expect(!mu.rwunlock(read: read))
            let ok = try await within(.seconds(5), "second lock after unlock") { try await second.value }
            #expect(ok)
            #expect(!mu.rwunlock(read: read))
            let endState = mu.m.state.load(ordering: .relaxed)
            #expect(endState == 0)
        }

        @Test func afterIncrefAndCloseEverythingFails() async throws {
            let mu = MutexBox()
            #expect(try mu.increfAndClose())
            #expect(try !mu.incref())
            #expect(try await !mu.rwlock(read: true))
            #expect(try await !mu.rwlock(read: false))
            #expect(try !mu.increfAndClose(), "a second close is refused")
            #expect(mu.decref(), "dropping the close reference is the last one: destroy")
        }

        @Test func closeReleasesBlockedReadersAndLastUnlockDestroys() async throws {
            let mu = MutexBox()
            #expect(try await mu.rwlock(read: true))
            let readers = (0..<4).map { _ in Task { try await mu.rwlock(read: true) } }
            try await waitUntil(within: .seconds(5), "4 readers waiting") { Self.waiters(mu, read: true) == 4 }

            #expect(try mu.increfAndClose())
            for (i, r) in readers.enumerated() {
                let got = try await within(.seconds(5), "blocked reader \(i) released by close") { try await r.value }
                #expect(got == false, "reader \(i) must fail after close")
            }
            #expect(!mu.decref(), "the held read lock still references the descriptor")
            #expect(mu.rwunlock(read: true), "the last unlock after close must report destroy")
        }

        @Test func referenceOverflowIsAnError() throws {
            let mu = MutexBox()
            for _ in 0..<(1 << 20 - 1) {
                _ = try mu.incref()
            }
            #expect(throws: NetpollError.tooManyConcurrentOperations) { try mu.incref() }
            #expect(throws: NetpollError.tooManyConcurrentOperations) { try mu.increfAndClose() }
            // The failed attempts changed nothing: one more decref leaves room again.
            #expect(!mu.decref())
            #expect(try mu.incref())
        }

        /// Go: TestMutexStress. Random increfs, read locks and write locks from many
        /// tasks; inside a lock a counter proves nobody else holds the same lock.
        @Test func stressKeepsMutualExclusion() async throws {
            let mu = MutexBox()
            let readersInside = Counter()
            let writersInside = Counter()
            let violations = Counter()
            let tasks = 8, ops = 3000
            try await within(.seconds(60), "FDMutex stress") {
                try await withThrowingTaskGroup(of: Void.self) { g in
                    for t in 0..<tasks {
                        g.addTask {
                            var rng = SplitMix(seed: UInt64(t) &+ 1)
                            for _ in 0..<ops {
                                switch rng.next() % 3 {
                                case 0:
                                    guard try mu.incref() else { violations.add(); continue }
                                    if rng.next() % 4 == 0 { await Task.yield() }
                                    if mu.decref() { violations.add() }
                                case 1:
                                    guard try await mu.rwlock(read: true) else { violations.add(); continue }
                                    if readersInside.add() != 1 { violations.add() }
                                    if rng.next() % 2 == 0 { await Task.yield() }
                                    readersInside.subtract()
                                    if mu.rwunlock(read: true) { violations.add() }
                                default:
                                    guard try await mu.rwlock(read: false) else { violations.add(); continue }
                                    if writersInside.add() != 1 { violations.add() }
                                    if rng.next() % 2 == 0 { await Task.yield() }
                                    writersInside.subtract()
                                    if mu.rwunlock(read: false) { violations.add() }
                                }
                            }
                        }
                    }
                    try await g.waitForAll()
                }
            }
            let loaded = violations.value
            #expect(loaded == 0, "two holders of one lock, or a spurious destroy/closed")
            let finalState = mu.m.state.load(ordering: .relaxed)
            #expect(finalState == 0, "state word back to zero after the stress run")
            #expect(try mu.increfAndClose())
            #expect(mu.decref())
        }

        /// Two concurrent `FD.read`s never reach the PollDesc together: the FDMutex
        /// queues the second (one read waiter in the mutex, one parked in the PollDesc),
        /// and each gets its own byte. This is what keeps "double wait" unreachable
        /// from the FD layer.
        @Test(arguments: loopConfigs)
        func fdMutexSerialisesConcurrentReads(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p = try makePipe()
                defer { close(p.w) }
                let fd = try await FD.open(p.r, loop: loop, isSocket: false)
                let readers = (0..<2).map { i in
                    Task(executorPreference: i == 0 ? loop : nil) { try await fd.readSome(max: 1) }
                }
                try await waitUntil("one reader parked in the PollDesc, one queued in the FDMutex") {
                    fd.pd.readParked
                        && fd.fdmu.state.load(ordering: .acquiring) & FDMutex.rMask == FDMutex.rWait
                }
                #expect(writeBytes(p.w, [1]) == 1)
                // The lock passes to the queued reader, which finds EAGAIN and parks.
                try await waitUntil("second reader parked after the first got its byte") {
                    fd.pd.readParked && fd.fdmu.state.load(ordering: .acquiring) & FDMutex.rMask == 0
                }
                #expect(writeBytes(p.w, [2]) == 1)
                var got: [UInt8] = []
                for t in readers {
                    let r = await outcome(of: t, "serialised read")
                    got += (try? r.get()) ?? []
                }
                #expect(got.sorted() == [1, 2])
                try await fd.close()
            }
        }
    }
}
