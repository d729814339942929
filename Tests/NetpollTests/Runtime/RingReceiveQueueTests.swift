import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// RingReceiveQueue (Runtime/RingReceiveQueue.swift): what io_uring completion mode
// received for one descriptor and its reader has not taken — ring buffers in
// arrival order, then at most one end — checked as plain values, with memory of the
// test's own standing in for the ring's buffers. What must hold is what
// RingReceive.pml asserts of the queue: every byte given exactly once and in order,
// no end before the bytes queued ahead of it, an end never dropped by a read that
// already took bytes, and every ring buffer handed back exactly once.
//
// The receive cap is counted here (`ringItems`) and decided by the PollDesc that
// owns the queue (`ringReceived`): the second suite below feeds receipts to a
// PollDesc.

/// Memory standing in for ring buffers: each chunk the test's own, freed with this.
/// `.copied` items are the queue's own memory (it frees them when they are taken),
/// so they are allocated here but not kept.
private final class FakeRing {
    private var blocks: [UnsafeMutableRawPointer] = []

    /// A fresh block holding `content`, freed with this object.
    func hold(_ content: [UInt8]) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(content.count, 1), alignment: 16)
        content.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        blocks.append(p)
        return p
    }

    /// A `.bytes` item: ring buffer `bid` holding `content`.
    func bytes(_ bid: UInt16, _ content: [UInt8]) -> RingReceiveQueue.Item {
        .bytes(buffer: bid, base: UInt(bitPattern: hold(content)), offset: 0, count: content.count)
    }

    /// A `.copied` item holding `content`, in memory the queue frees when it is taken.
    static func copied(_ content: [UInt8]) -> RingReceiveQueue.Item {
        let p = UnsafeMutableRawPointer.allocate(byteCount: content.count, alignment: 1)
        content.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return .copied(base: UInt(bitPattern: p), offset: 0, count: content.count)
    }

    deinit { for p in blocks { p.deallocate() } }
}

/// What one `take` gave: the bytes copied, the ring buffer to recycle, the end.
private struct Took: Equatable, CustomStringConvertible {
    var bytes: [UInt8] = []
    var used: UInt16? = nil
    var end: Int32? = nil
    var description: String { "bytes \(bytes) used \(used.map { "\($0)" } ?? "-") end \(end.map { "\($0)" } ?? "-")" }
}

private let nothing = Took()

extension RingReceiveQueue {
    /// One `take(into:count:keepEnd:)` into a buffer of `count` bytes.
    fileprivate mutating func take(_ count: Int, keepEnd: Bool = false) -> Took {
        var out = [UInt8](repeating: 0, count: max(count, 1))
        let r = out.withUnsafeMutableBytes { take(into: $0.baseAddress!, count: count, keepEnd: keepEnd) }
        return Took(bytes: Array(out[0..<r.copied]), used: r.used, end: r.end)
    }

    /// `takeWhole(max:)`, with the bytes it hands out read from their address.
    fileprivate mutating func takeWholeBytes(max: Int) -> (buffer: UInt16, bytes: [UInt8])? {
        guard let (bid, address, count) = takeWhole(max: max) else { return nil }
        return (bid, Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: count)))
    }

    /// Empties the queue; the buffers it recycled, in order.
    fileprivate mutating func drain() -> [UInt16] {
        var recycled: [UInt16] = []
        removeAll { recycled.append($0) }
        return recycled
    }
}

@Suite struct RingReceiveQueueTests {
    // MARK: empty

    @Test func anEmptyQueueGivesNothing() {
        var q = RingReceiveQueue()
        #expect(q.isEmpty)
        #expect(q.ringItems == 0)
        #expect(q.take(16) == nothing)
        #expect(q.takeWhole(max: 16) == nil)
        #expect(q.drain() == [])
    }

    // MARK: bytes in order

    /// Three pushes cross every storage shape: the first item inline, the second
    /// moving it to the array ahead of itself, the third appended.
    @Test func bytesComeOutInTheOrderTheyWerePushed() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        // model: RING_PUSH ×3, then RING_TAKE ×3 (deliver: exactly once, in order)
        q.push(ring.bytes(1, [1, 2]))
        q.push(ring.bytes(2, [3]))
        q.push(ring.bytes(3, [4, 5, 6]))
        #expect(!q.isEmpty)
        // One item per take, however large the destination.
        #expect(q.take(64) == Took(bytes: [1, 2], used: 1))
        #expect(q.take(64) == Took(bytes: [3], used: 2))
        #expect(q.take(64) == Took(bytes: [4, 5, 6], used: 3))
        #expect(q.isEmpty)
        #expect(q.take(64) == nothing)
    }

    @Test func aShortTakeLeavesTheRestOfTheItemAtTheFront() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(7, Array(0..<10)))
        // model: RING_TAKE, the short-buffer branch (part of the head item; hlo moves on)
        #expect(q.take(4) == Took(bytes: [0, 1, 2, 3]), "a part-taken buffer is not recycled yet")
        #expect(q.ringItems == 1)
        #expect(q.take(4) == Took(bytes: [4, 5, 6, 7]))
        // model: RING_TAKE, the whole-item branch: the buffer goes back with the last byte
        #expect(q.take(4) == Took(bytes: [8, 9], used: 7))
        #expect(q.ringItems == 0)
        #expect(q.isEmpty)
    }

    /// A part-taken head keeps its place whether it is the inline item or the head
    /// of the array.
    @Test(arguments: [false, true])
    func aPartTakenItemStaysAheadOfLaterPushes(headInArray: Bool) {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [10, 11, 12, 13]))
        if headInArray { q.push(ring.bytes(2, [20])) }
        #expect(q.take(1) == Took(bytes: [10]))
        q.push(ring.bytes(3, [30, 31]))
        #expect(q.take(64) == Took(bytes: [11, 12, 13], used: 1))
        if headInArray { #expect(q.take(64) == Took(bytes: [20], used: 2)) }
        #expect(q.take(64) == Took(bytes: [30, 31], used: 3))
        #expect(q.isEmpty)
    }

    /// Once the array drained, its storage is reset and reused: later items still
    /// come out in order (the steady state of a descriptor's life).
    @Test func aDrainedQueueKeepsOrderForItsNextArrivals() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [1]))
        q.push(ring.bytes(2, [2]))
        q.push(ring.bytes(3, [3]))
        #expect(q.take(8) == Took(bytes: [1], used: 1))
        q.push(ring.bytes(4, [4]))  // appended behind a moved head
        #expect(q.take(8) == Took(bytes: [2], used: 2))
        #expect(q.take(8) == Took(bytes: [3], used: 3))
        #expect(q.take(8) == Took(bytes: [4], used: 4))
        #expect(q.isEmpty)
        // The next round: inline again, then through the emptied array.
        for round in 0..<3 {
            let base = UInt8(10 * (round + 1))
            q.push(ring.bytes(5, [base]))
            q.push(ring.bytes(6, [base + 1]))
            #expect(q.take(8) == Took(bytes: [base], used: 5), "round \(round)")
            #expect(q.take(8) == Took(bytes: [base + 1], used: 6), "round \(round)")
            #expect(q.isEmpty, "round \(round)")
        }
    }

    // MARK: the end

    @Test func endOfStreamComesOnlyAfterTheBytesAheadOfIt() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        // model: CQ_DATA then CQ_EOF (RING_PUSH of the bytes, then of (END, 0))
        q.push(ring.bytes(1, [1, 2, 3]))
        q.push(.end(0))
        // model: end_of_stream's assert: no end before every byte
        #expect(q.take(2) == Took(bytes: [1, 2]))
        #expect(q.take(64) == Took(bytes: [3], used: 1))
        #expect(!q.isEmpty, "the end is still queued")
        #expect(q.take(64) == Took(end: 0))
        #expect(q.isEmpty)
        #expect(q.take(64) == nothing, "the end is given once")
    }

    @Test func aResetsErrorComesAfterTheBytesAheadOfItWithItsErrno() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        // model: CQ_EOF with the reset's error (hi = 1): end_err == peer_reset
        q.push(ring.bytes(1, [9]))
        q.push(.end(ECONNRESET))
        #expect(q.take(64) == Took(bytes: [9], used: 1))
        #expect(q.take(64) == Took(end: ECONNRESET))
        #expect(q.isEmpty)
    }

    /// A read that already took bytes (a readv filling its next buffer) leaves the end
    /// for the next read: the bug the model's MUT_READV_DROPS_END mutant reproduces.
    @Test func keepEndLeavesTheEndForTheNextRead() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [1, 2]))
        q.push(.end(ECONNRESET))
        // The first iovec is filled exactly by the bytes...
        #expect(q.take(2) == Took(bytes: [1, 2], used: 1))
        // ...and the next iovec's take must not pop the end (model: MUT_READV_DROPS_END).
        #expect(q.take(64, keepEnd: true) == nothing)
        #expect(!q.isEmpty)
        // model: RING_TAKE by the next read: the end, when no bytes came before it
        #expect(q.take(64) == Took(end: ECONNRESET))
        #expect(q.isEmpty)
    }

    @Test func keepEndStillTakesBytes() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [1, 2]))
        q.push(.end(0))
        #expect(q.take(64, keepEnd: true) == Took(bytes: [1, 2], used: 1))
        #expect(q.take(64, keepEnd: true) == nothing)
        #expect(q.take(64) == Took(end: 0))
    }

    // MARK: borrowed reads (takeWhole)

    @Test func takeWholeHandsOutTheHeadChunkOnlyWhenItFits() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(4, [1, 2, 3]))
        // model: RING_TAKE_WHOLE: a head that does not fit is as if skipped
        #expect(q.takeWhole(max: 2) == nil)
        #expect(q.ringItems == 1)
        // model: RING_TAKE_WHOLE: the head chunk whole; the caller recycles the buffer
        let whole = q.takeWholeBytes(max: 3)
        #expect(whole?.buffer == 4)
        #expect(whole?.bytes == [1, 2, 3])
        #expect(q.isEmpty)
        #expect(q.ringItems == 0)
    }

    @Test func takeWholeOfAPartTakenChunkStartsWhereTheLastTakeStopped() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(4, [1, 2, 3, 4, 5]))
        #expect(q.take(2) == Took(bytes: [1, 2]))
        let whole = q.takeWholeBytes(max: 3)
        #expect(whole?.buffer == 4)
        #expect(whole?.bytes == [3, 4, 5])
        #expect(q.isEmpty)
    }

    @Test func takeWholeNeverTakesAnEnd() {
        var q = RingReceiveQueue()
        q.push(.end(0))
        // model: RING_TAKE_WHOLE only ever hands out queued bytes
        #expect(q.takeWhole(max: 1 << 20) == nil)
        #expect(q.take(8) == Took(end: 0), "the end is left for a copying take")
    }

    /// Copied bytes are the queue's own memory, freed when taken: never borrowed.
    @Test func takeWholeLeavesCopiedBytesToACopyingTake() {
        var q = RingReceiveQueue()
        q.push(FakeRing.copied([7, 8]))
        #expect(q.takeWhole(max: 1 << 20) == nil)
        #expect(q.take(8) == Took(bytes: [7, 8]), "copied bytes name no ring buffer to recycle")
        #expect(q.isEmpty)
    }

    // MARK: the cap's count

    /// `ringItems` is what `PollDesc.ringReceived` compares with the cap: ring buffers
    /// held, not items — copies and the end hold none, and a part-taken buffer is
    /// still held.
    @Test func ringItemsCountsTheRingBuffersHeld() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [1, 2]))
        q.push(FakeRing.copied([3]))
        q.push(ring.bytes(2, [4]))
        q.push(.end(0))
        #expect(q.ringItems == 2)
        #expect(q.take(1) == Took(bytes: [1]))
        #expect(q.ringItems == 2, "a part-taken buffer is still held")
        #expect(q.take(8) == Took(bytes: [2], used: 1))
        #expect(q.ringItems == 1)
        #expect(q.take(8) == Took(bytes: [3]))
        #expect(q.ringItems == 1, "a copy held no ring buffer")
        #expect(q.takeWholeBytes(max: 8)?.buffer == 2)
        #expect(q.ringItems == 0)
        #expect(q.take(8) == Took(end: 0))
        #expect(q.isEmpty)
    }

    // MARK: close

    @Test func removeAllRecyclesEveryHeldBufferOnceAndEmptiesTheQueue() {
        let ring = FakeRing()
        var q = RingReceiveQueue()
        q.push(ring.bytes(1, [1]))
        q.push(ring.bytes(2, [2, 3]))
        q.push(FakeRing.copied([4]))
        q.push(ring.bytes(3, [5]))
        q.push(.end(ECONNRESET))
        #expect(q.take(8) == Took(bytes: [1], used: 1))
        #expect(q.take(1) == Took(bytes: [2]))  // buffer 2 part-taken: still held
        #expect(q.drain() == [2, 3], "each held buffer once; the one taken already is not recycled again")
        #expect(q.isEmpty)
        #expect(q.ringItems == 0)
        #expect(q.take(8) == nothing, "the end went with the rest")
        // The slot's next descriptor starts from an empty queue that works as new.
        q.push(ring.bytes(4, [6]))
        q.push(ring.bytes(5, [7]))
        #expect(q.take(8) == Took(bytes: [6], used: 4))
        #expect(q.take(8) == Took(bytes: [7], used: 5))
    }

    // MARK: everything at once

    /// Random pushes and takes of every kind, against a plain array of what is
    /// queued: every byte once and in order, the end only after all bytes and once,
    /// each ring buffer handed back exactly once, `ringItems` exact throughout.
    @Test(arguments: [UInt64(1), 2, 3, 0xbad5eed])
    func randomPushesAndTakesGiveEveryByteOnceInOrder(seed: UInt64) {
        // model: RING_PUSH, RING_TAKE, RING_TAKE_WHOLE interleaved, and the end's
        // keepEnd (MUT_READV_DROPS_END): the deliver and end_of_stream asserts.
        enum Kind: Equatable { case ring(UInt16), copy, end(Int32) }
        struct Queued { var kind: Kind; var rest: [UInt8] }

        var rng = SplitMix(seed: seed)
        let ring = FakeRing()
        var q = RingReceiveQueue()
        var model: [Queued] = []
        var nextByte = 0  // the next byte to push (bytes are their sequence number mod 256)
        var given = 0  // bytes given so far
        var nextBid: UInt16 = 0
        var outstanding: [UInt16] = []  // pushed, not yet handed back, in push order
        var ended = false  // an end was pushed: nothing is pushed after it
        var endGiven = false

        func content(_ n: Int) -> [UInt8] {
            defer { nextByte += n }
            return (0..<n).map { UInt8(truncatingIfNeeded: nextByte + $0) }
        }
        func checkGiven(_ bytes: [UInt8], _ step: Int) {
            let want = (0..<bytes.count).map { UInt8(truncatingIfNeeded: given + $0) }
            #expect(bytes == want, "seed \(seed) step \(step): bytes out of order or repeated")
            given += bytes.count
        }
        func handedBack(_ bid: UInt16, _ step: Int) {
            #expect(outstanding.first == bid, "seed \(seed) step \(step): buffer \(bid) handed back out of turn (\(outstanding.prefix(3)))")
            if let i = outstanding.firstIndex(of: bid) { outstanding.remove(at: i) }
        }

        for step in 0..<3000 {
            let op = rng.next() % 8
            if op <= 2 && !ended {
                let bytes = content(Int(rng.next() % 12) + 1)
                nextBid &+= 1
                q.push(ring.bytes(nextBid, bytes))
                model.append(Queued(kind: .ring(nextBid), rest: bytes))
                outstanding.append(nextBid)
            } else if op == 3 && !ended {
                let bytes = content(Int(rng.next() % 12) + 1)
                q.push(FakeRing.copied(bytes))
                model.append(Queued(kind: .copy, rest: bytes))
            } else if op == 4 && !ended && step > 2000 && rng.next() % 16 == 0 {
                let e: Int32 = rng.next() % 2 == 0 ? 0 : ECONNRESET
                q.push(.end(e))
                model.append(Queued(kind: .end(e), rest: []))
                ended = true
            } else if op == 5 {
                let max = Int(rng.next() % 14) + 1
                let got = q.takeWholeBytes(max: max)
                if let head = model.first, case .ring(let bid) = head.kind, head.rest.count <= max {
                    #expect(got?.buffer == bid, "seed \(seed) step \(step)")
                    #expect(got?.bytes == head.rest, "seed \(seed) step \(step)")
                    model.removeFirst()
                    if let got { checkGiven(got.bytes, step); handedBack(got.buffer, step) }
                } else {
                    #expect(got == nil, "seed \(seed) step \(step): takeWhole gave what it may not")
                }
            } else {
                let count = Int(rng.next() % 16) + 1
                let keepEnd = rng.next() % 3 == 0
                let got = q.take(count, keepEnd: keepEnd)
                var want = nothing
                if let head = model.first {
                    switch head.kind {
                    case .end(let e):
                        if !keepEnd {
                            want.end = e
                            model.removeFirst()
                        }
                    case .ring, .copy:
                        let n = min(count, head.rest.count)
                        want.bytes = Array(head.rest[0..<n])
                        if n == head.rest.count {
                            if case .ring(let bid) = head.kind { want.used = bid }
                            model.removeFirst()
                        } else {
                            model[0].rest.removeFirst(n)
                        }
                    }
                }
                #expect(got == want, "seed \(seed) step \(step)")
                checkGiven(got.bytes, step)
                if let bid = got.used { handedBack(bid, step) }
                if got.end != nil {
                    #expect(given == nextByte, "seed \(seed) step \(step): an end before every byte")
                    #expect(!endGiven, "seed \(seed) step \(step): the end given twice")
                    endGiven = true
                }
            }
            #expect(q.ringItems == outstanding.count, "seed \(seed) step \(step)")
            #expect(q.isEmpty == model.isEmpty, "seed \(seed) step \(step)")
        }
        // Close: what is left goes back, each buffer once.
        #expect(q.drain() == outstanding, "seed \(seed)")
        #expect(q.isEmpty)
    }
}

// MARK: - the queue on its PollDesc

// PollDesc.ringReceived / takeReceived / takeReceivedWhole / discardReceived: the
// cap, the hand-back of the socket (ringState) and the ready each receipt latches.
// The receipts are made up and the PollDesc is a bare one (no descriptor, not in any
// loop's cache): the loop only hosts it. The buffer ids are all at least 0x8000,
// past any buffer ring (at most 32768 buffers), so a ring loop ignores them when they
// are "given back" — the suite runs on every configuration, as every suite with a
// loop does, without touching a real ring buffer.

extension SerializedTests.RuntimeTests {
    @Suite struct PollDescRingReceiveQueueTests {
        /// A receipt of `content` in fake ring buffer `bid` (at least 0x8000).
        private static func data(_ ring: FakeRing, _ bid: UInt16, _ content: [UInt8], ended: Bool = false) -> RingReceipt {
            precondition(bid >= 0x8000)
            return .data(buffer: bid, base: ring.hold(content), count: content.count, ended: ended)
        }

        private static func withBarePollDesc(_ config: PollerConfig, _ body: (PollDesc) async throws -> Void) async throws {
            try await withLoopGroup(config) { group in
                try await body(PollDesc(loop: group.loops[0], index: UInt32.max))
            }
        }

        /// All that `takeReceived` gives, read by reads of `count` bytes.
        private static func takeAll(_ pd: PollDesc, count: Int) -> (bytes: [UInt8], end: Int32?) {
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: count)
            while true {
                let r = buf.withUnsafeMutableBytes { pd.takeReceived(into: $0.baseAddress!, count: count) }
                switch r {
                case .bytes(let n): out += buf[0..<n]
                case .end(let e): return (out, e)
                case .empty: return (out, nil)
                }
            }
        }

        @Test(arguments: loopConfigs)
        func theReceiptThatFillsTheCapAsksToStopTheRECV(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                #expect(!pd.ringReceived(Self.data(ring, 0x8001, [1]), cap: 3))
                #expect(!pd.ringReceived(Self.data(ring, 0x8002, [2]), cap: 3))
                // model: RING_CAP_CANCEL (the loop asks the poller to stop the RECV)
                #expect(pd.ringReceived(Self.data(ring, 0x8003, [3]), cap: 3))
                #expect(pd.ringQueue.locked { $0.ringItems } == 3)
                #expect(Self.takeAll(pd, count: 64).bytes == [1, 2, 3])
            }
        }

        /// A RECV that ended with the receipt that filled the cap is gone already:
        /// nothing to stop.
        @Test(arguments: loopConfigs)
        func aReceiptThatFillsTheCapAndEndsTheRECVDoesNotAskToStopIt(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                #expect(!pd.ringReceived(Self.data(ring, 0x8001, [1], ended: true), cap: 1))
                #expect(pd.ringQueue.locked { $0.ringItems } == 1)
            }
        }

        /// What arrives past the cap (before the cancel lands) is copied at once, so
        /// its ring buffer can go straight back: overwriting the buffer afterwards
        /// changes nothing the reader gets, and the order is kept.
        @Test(arguments: loopConfigs)
        func bytesPastTheCapAreCopiedAtOnceAndKeepTheirPlace(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                #expect(pd.ringReceived(Self.data(ring, 0x8001, [1, 2]), cap: 1))
                let late = ring.hold([3, 4])
                #expect(!pd.ringReceived(.data(buffer: 0x8002, base: late, count: 2, ended: false), cap: 1),
                    "past the cap: the RECV was asked to stop already")
                late.storeBytes(of: 0xEEEE, as: UInt16.self)  // the kernel reuses the buffer
                #expect(pd.ringQueue.locked { $0.ringItems } == 1, "only the buffer within the cap is held")
                #expect(!pd.ringReceived(Self.data(ring, 0x8003, [5]), cap: 1))
                #expect(Self.takeAll(pd, count: 64).bytes == [1, 2, 3, 4, 5])
                #expect(pd.ringQueue.locked { $0.ringItems } == 0)
            }
        }

        /// Taking below the cap lets the next receipt hold a ring buffer again (and
        /// fill the cap again).
        @Test(arguments: loopConfigs)
        func takingBelowTheCapLetsTheNextReceiptHoldARingBufferAgain(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                #expect(pd.ringReceived(Self.data(ring, 0x8001, [1]), cap: 1))
                #expect(Self.takeAll(pd, count: 64).bytes == [1])
                #expect(pd.ringQueue.locked { $0.ringItems } == 0)
                let next = ring.hold([2])
                #expect(pd.ringReceived(.data(buffer: 0x8002, base: next, count: 1, ended: false), cap: 1))
                #expect(pd.ringQueue.locked { $0.ringItems } == 1, "held in its ring buffer, not copied")
                // Not copied: the reader sees the ring buffer itself.
                next.storeBytes(of: 9, as: UInt8.self)
                #expect(Self.takeAll(pd, count: 64).bytes == [9])
            }
        }

        /// Every receipt latches read readiness (a parked reader would wake); one that
        /// ended the RECV hands the socket back (`off`); one that did not leaves the RECV
        /// in charge.
        @Test(arguments: loopConfigs)
        func eachReceiptLatchesReadyAndOnlyAnEndingOneHandsTheSocketBack(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                // What each receipt leaves queued: bytes, an end, or nothing.
                enum Queues: Equatable { case bytes([UInt8]), end(Int32), nothing }
                let receipts: [(what: String, receipt: RingReceipt, ends: Bool, queues: Queues)] = [
                    ("data", Self.data(ring, 0x8001, [1]), false, .bytes([1])),
                    ("last data", Self.data(ring, 0x8002, [2], ended: true), true, .bytes([2])),
                    ("end of stream", .endOfStream, true, .end(0)),
                    ("reset", .failed(ECONNRESET), true, .end(ECONNRESET)),
                    ("stopped", .stopped, true, .nothing),
                ]
                for (what, receipt, ends, queues) in receipts {
                    pd.ringState.store(PollDesc.ringRunning, ordering: .relaxed)
                    pd.rg.store(PollDesc.pdNil, ordering: .relaxed)
                    _ = pd.ringReceived(receipt, cap: 16)
                    // model: RING_READY (and MUT_NO_READY_ON_STOP: a receipt without news wakes too)
                    #expect(pd.readState == PollDesc.pdReady, "\(what): no ready latched")
                    // model: RING_STORE_OFF, only for a receipt that ended the RECV
                    let state = pd.ringState.load(ordering: .relaxed)
                    #expect(state == (ends ? PollDesc.ringOff : PollDesc.ringRunning), "\(what): ringState \(state)")
                    // model: RING_PUSH
                    let taken = Self.takeAll(pd, count: 64)
                    switch queues {
                    case .bytes(let b): #expect(taken.bytes == b && taken.end == nil, "\(what): took \(taken)")
                    case .end(let e): #expect(taken.bytes.isEmpty && taken.end == e, "\(what): took \(taken)")
                    case .nothing: #expect(taken.bytes.isEmpty && taken.end == nil, "\(what): took \(taken)")
                    }
                }
            }
        }

        /// A read takes across items; a read that took bytes leaves the end for the
        /// next; a readv's later buffer (`afterBytes`) does too.
        @Test(arguments: loopConfigs)
        func takeReceivedFillsAcrossItemsAndLeavesTheEndBehindBytes(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                pd.ringReceived(Self.data(ring, 0x8001, [1, 2]), cap: 16)
                pd.ringReceived(Self.data(ring, 0x8002, [3, 4]), cap: 16)
                pd.ringReceived(.failed(ECONNRESET), cap: 16)
                var buf = [UInt8](repeating: 0, count: 3)
                // model: RING_TAKE, across two items; a short buffer part-takes the second
                var r = buf.withUnsafeMutableBytes { pd.takeReceived(into: $0.baseAddress!, count: 3) }
                guard case .bytes(3) = r else { Issue.record("first read: \(r)"); return }
                #expect(buf == [1, 2, 3])
                r = buf.withUnsafeMutableBytes { pd.takeReceived(into: $0.baseAddress!, count: 3) }
                guard case .bytes(1) = r else { Issue.record("second read: \(r)"); return }
                #expect(buf[0] == 4)
                // model: MUT_READV_DROPS_END (a readv's next buffer must keep the end)
                r = buf.withUnsafeMutableBytes { pd.takeReceived(into: $0.baseAddress!, count: 3, afterBytes: true) }
                guard case .empty = r else { Issue.record("readv's next buffer: \(r)"); return }
                #expect(pd.hasReceived(), "the end is still queued")
                r = buf.withUnsafeMutableBytes { pd.takeReceived(into: $0.baseAddress!, count: 3) }
                guard case .end(ECONNRESET) = r else { Issue.record("third read: \(r)"); return }
                #expect(!pd.hasReceived())
            }
        }

        @Test(arguments: loopConfigs)
        func takeReceivedWholeTellsAChunkFromNothingFromNotWhole(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                guard case .empty = pd.takeReceivedWhole(max: 64) else { Issue.record("empty queue"); return }
                pd.ringReceived(Self.data(ring, 0x8001, [1, 2, 3]), cap: 16)
                guard case .notWhole = pd.takeReceivedWhole(max: 2) else { Issue.record("chunk larger than max"); return }
                guard case .chunk(let bid, let bytes) = pd.takeReceivedWhole(max: 3) else {
                    Issue.record("chunk that fits"); return
                }
                #expect(bid == 0x8001)
                #expect(Array(bytes) == [1, 2, 3])
                pd.ringReceived(.endOfStream, cap: 16)
                guard case .notWhole = pd.takeReceivedWhole(max: 64) else { Issue.record("an end is not a chunk"); return }
                #expect(Self.takeAll(pd, count: 8) == ([], 0))
            }
        }

        @Test(arguments: loopConfigs)
        func discardReceivedEmptiesTheQueueAndHandsTheSocketBack(config: PollerConfig) async throws {
            try await Self.withBarePollDesc(config) { pd in
                let ring = FakeRing()
                pd.ringState.store(PollDesc.ringRunning, ordering: .relaxed)
                pd.ringReceived(Self.data(ring, 0x8001, [1]), cap: 1)
                pd.ringReceived(Self.data(ring, 0x8002, [2]), cap: 1)  // copied
                pd.ringReceived(.endOfStream, cap: 1)
                pd.discardReceived()
                #expect(!pd.hasReceived())
                #expect(pd.ringQueue.locked { $0.ringItems } == 0)
                #expect(pd.ringState.load(ordering: .relaxed) == PollDesc.ringOff)
            }
        }
    }
}
