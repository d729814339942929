import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Issue 24, item 3: completion mode's buffer ring consumed incrementally (Linux 6.12,
// IOU_PBUF_RING_INC). The kernel fills one buffer a completion at a time, for any
// connection; the poller's ledger must hand up each chunk where the kernel put it,
// and put a buffer back in the ring only after the kernel finished it and the last
// of its chunks came back. (The whole Net suite runs over it too: the
// `uring-completion-allfeatures` configuration.)

extension SerializedTests.PollerTests {
    @Suite struct IncrementalBufferTests {
        /// Three connections' small messages through a ring of four 256-byte buffers:
        /// 1,800 bytes through 1,024 bytes of ring, so buffers are shared by several
        /// connections and reused. Chunks are recycled a round late and out of order.
        /// Every connection gets its bytes exactly, chunks lie at increasing offsets
        /// of shared buffers, and at the end every buffer is back in the ring.
        @Test func chunksShareBuffersAndEveryBufferReturnsAfterItsLastChunk() throws {
            if let why = URingPoller.Feature.incrementalBuffers.unsupportedReason {
                print("skipped: \(why)")
                return
            }
            let p = try URingPoller(options: .init(
                mode: .completion, receiveBuffers: 4, receiveBufferSize: 256, features: .exactly([.incrementalBuffers])))
            defer { p.close() }
            #expect(p.incrementalBuffers)
            let n = 3, rounds = 60, size = 10
            var fds: [(Int32, Int32)] = []
            defer { for (a, b) in fds { close(a); close(b) } }
            var tokens: [PollToken] = []
            for i in 0..<n {
                let pair = try makeSocketPair()
                fds.append(pair)
                let t = PollToken(slot: UInt32(i + 1), seq: 1)
                tokens.append(t)
                try p.register(fd: pair.0, token: t, receiving: true)
                #expect(try p.armReceive(token: t) == .receiving)
            }
            var got = [[UInt8]](repeating: [], count: n)
            var held: [UInt16] = []
            var chunks = 0, offsetChunks = 0
            var owners: [UInt16: Set<Int>] = [:]
            for round in 0..<rounds {
                for i in 0..<n {
                    let msg = (0..<size).map { patternByte(UInt64(i), round * size + $0) }
                    #expect(writeBytes(fds[i].1, msg) == size)
                }
                let late = held
                held = []
                let want = got.map(\.count).reduce(0, +) + n * size
                let deadline = ContinuousClock.now + .seconds(5)
                while got.map(\.count).reduce(0, +) < want && ContinuousClock.now < deadline {
                    _ = try p.poll(timeout: .milliseconds(100), { _, _ in }, received: { token, receipt in
                        guard case .data(let bid, let base, let count, _) = receipt,
                            let i = tokens.firstIndex(of: token) else { return }
                        got[i] += Array(UnsafeRawBufferPointer(start: base, count: count))
                        chunks += 1
                        if base != cnp_ring_buffer(p.ring, bid) { offsetChunks += 1 }
                        owners[bid, default: []].insert(i)
                        held.append(bid)
                    })
                    for t in tokens { _ = try p.armReceive(token: t) }  // a RECV that ran dry starts again
                }
                // Last round's chunks go back now, newest first.
                for bid in late.reversed() { p.recycle(buffer: bid) }
            }
            for bid in held { p.recycle(buffer: bid) }
            for i in 0..<n {
                #expect(got[i] == (0..<(rounds * size)).map { patternByte(UInt64(i), $0) }, "connection \(i)'s bytes")
            }
            #expect(offsetChunks > 0, "no chunk lay past the start of its buffer: the ring was not consumed incrementally")
            #expect(owners.values.contains { $0.count > 1 }, "no buffer carried two connections' bytes")
            #expect(chunks >= n * rounds)
            #expect(p.buffersOut == 0, "buffers still out of the ring after every chunk came back: \(p.buffersOut)")
            for (t, (a, _)) in zip(tokens, fds) { try p.deregister(fd: a, token: t) }
        }
    }
}
