import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// The loop's bookkeeping: the deadline timer heap (one entry per PollDesc timer, moved
// in place) and the PollCache (slot reuse bumps fdseq, so old tokens stop resolving).

extension SerializedTests.RuntimeTests {
    @Suite struct RuntimeTimerHeapAndPollCacheTests {
        private struct Key: Hashable {
            let pd: Int
            let read: Bool
        }

        /// Random modify/stop/fire against a model. After each step: the count and
        /// `next` match the model, every PollDesc's positions name distinct heap slots
        /// (or -1 when not in the heap), and a fire pops exactly the due entries.
        @Test(arguments: loopConfigs)
        func timerHeapStaysConsistentUnderRandomOperations(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                var pipes: [(r: Int32, w: Int32)] = []
                var pds: [PollDesc] = []
                for _ in 0..<4 {
                    let p = try makePipe()
                    pipes.append(p)
                    pds.append(try await loop.open(fd: p.r))
                }
                let heap = TimerHeap()
                var model: [Key: Int64] = [:]
                var scratch: [TimerHeap.Entry] = []
                let seed = UInt64(UInt32.random(in: 0...UInt32.max))
                var rng = SplitMix(seed: seed)
                // Seqs that never match the PollDescs' current rseq/wseq, so a fired entry
                // reaches deadlineFired and is dropped there as stale.
                func staleSeq(_ pd: PollDesc) -> UInt32 {
                    pd.locked.withLock { $0.rseq &+ 0x8000_0000 }
                }
                func checkConsistency(_ step: Int) -> Bool {
                    let count = heap.count
                    guard count == model.count else {
                        Issue.record("step \(step) (seed \(seed)): heap has \(count) entries, model \(model.count)")
                        return false
                    }
                    let expectedNext = model.values.min() ?? Int64.max
                    guard heap.next.load(ordering: .acquiring) == expectedNext else {
                        Issue.record("step \(step) (seed \(seed)): next \(heap.next.load(ordering: .acquiring)), expected \(expectedNext)")
                        return false
                    }
                    var seen = Set<Int>()
                    for (i, pd) in pds.enumerated() {
                        for read in [true, false] {
                            let pos = read ? pd.rtimerPos : pd.wtimerPos
                            let inModel = model[Key(pd: i, read: read)] != nil
                            guard inModel ? (pos >= 0 && pos < count && seen.insert(pos).inserted) : pos == -1 else {
                                Issue.record("step \(step) (seed \(seed)): pd \(i) \(read ? "read" : "write") timer at \(pos), in model: \(inModel)")
                                return false
                            }
                        }
                    }
                    return true
                }

                var now: Int64 = 1_000
                for step in 0..<5_000 {
                    let i = Int(rng.next() % UInt64(pds.count))
                    let read = rng.next() % 2 == 0
                    let key = Key(pd: i, read: read)
                    let slot: PollDesc.Mode = read ? .read : .write
                    switch rng.next() % 10 {
                    case 0..<6:
                        let when = now + Int64(rng.next() % 1_000)
                        let wasEarliest = when < (model.values.min() ?? Int64.max)
                        let became = heap.modify(pds[i], slot, when: when, mode: slot, seq: staleSeq(pds[i]))
                        model[key] = when
                        #expect(became == wasEarliest, "step \(step) (seed \(seed)): modify reported earliest \(became)")
                    case 6..<9:
                        heap.stop(pds[i], slot)
                        model[key] = nil
                    default:
                        now += Int64(rng.next() % 300)
                        let due = model.filter { $0.value <= now }
                        let fired = heap.fireExpired(now: now, into: &scratch)
                        #expect(fired == due.count, "step \(step) (seed \(seed)): fired \(fired), due \(due.count)")
                        for k in due.keys { model[k] = nil }
                    }
                    if !checkConsistency(step) { break }
                }
                heap.removeAll()
                #expect(heap.count == 0 && pds.allSatisfy { $0.rtimerPos == -1 && $0.wtimerPos == -1 })
                #expect(heap.next.load(ordering: .acquiring) == Int64.max)
                for pd in pds { try await closeRaw(pd, on: loop) }
                for p in pipes { close(p.r); close(p.w) }
            }
        }

        /// PollCache on its own: a freed slot is reused, its fdseq bumped; the old
        /// token no longer resolves, the new one does; seq 0 is skipped on wrap.
        @Test(arguments: loopConfigs)
        func pollCacheReuseInvalidatesTheOldToken(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                var cache = PollCache()
                let a = cache.alloc(loop: loop)
                let b = cache.alloc(loop: loop)
                let oldA = a.token
                #expect(cache.lookup(oldA) === a)
                #expect(cache.lookup(b.token) === b)
                cache.release(a)
                #expect(cache.lookup(oldA) == nil, "a freed slot's token still resolves")
                let a2 = cache.alloc(loop: loop)
                #expect(a2 === a, "the freed slot was not reused")
                #expect(a2.index == a.index && a2.token != oldA)
                #expect(a2.fdseq.load(ordering: .relaxed) == UInt32(truncatingIfNeeded: oldA.rawValue) &+ 1)
                #expect(cache.lookup(oldA) == nil)
                #expect(cache.lookup(a2.token) === a2)
                #expect(cache.lookup(b.token) === b)
                // Wrap: UInt32.max + 1 → 1, never 0.
                a2.fdseq.store(UInt32.max, ordering: .relaxed)
                let beforeWrap = a2.token
                cache.release(a2)
                let a3 = cache.alloc(loop: loop)
                #expect(a3.fdseq.load(ordering: .relaxed) == 1)
                #expect(cache.lookup(beforeWrap) == nil && cache.lookup(a3.token) === a3)
                // A token for a slot that does not exist.
                #expect(cache.lookup(PollToken(slot: 999, seq: 1)) == nil)
                #expect(cache.live == 2)
            }
        }

        /// The same through a loop: close then reopen on the same slot gives a new
        /// token, and the poller delivers events under the new one.
        @Test(arguments: loopConfigs)
        func reopenedSlotGetsEventsUnderItsNewToken(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let loop = group.loops[0]
                let p1 = try makePipe(), p2 = try makePipe()
                defer { close(p1.r); close(p1.w); close(p2.r); close(p2.w) }
                let pd1 = try await loop.open(fd: p1.r)
                let old = pd1.token
                try await closeRaw(pd1, on: loop)
                let pd2 = try await loop.open(fd: p2.r)
                #expect(pd2 === pd1, "the slot was not reused")
                #expect(pd2.token != old)
                #expect(pd2.token.rawValue >> 32 == old.rawValue >> 32)
                #expect(pd2.fdseq.load(ordering: .relaxed) == UInt32(truncatingIfNeeded: old.rawValue) &+ 1)
                #expect(!pd2.isClosing)
                // The old descriptor is deregistered: data on it reaches nobody.
                #expect(writeBytes(p1.w, [1]) == 1)
                let waiter = Task { await pd2.wait(.read) }
                try await waitUntil("waiter parked on the reused slot") { pd2.readParked }
                try await Task.sleep(for: .milliseconds(50))
                #expect(pd2.readParked, "an event for the old descriptor woke the reused slot")
                #expect(writeBytes(p2.w, [2]) == 1)
                let r = await outcome(of: Task { () async throws -> PollCheck? in await waiter.value }, "wait on the reused slot")
                #expect((try? r.get()) == .ok)
                try await closeRaw(pd2, on: loop)
            }
        }
    }
}
