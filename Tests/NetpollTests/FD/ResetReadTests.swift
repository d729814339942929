import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// A peer's reset reads as its data, then end of stream or ECONNRESET, on every
// backend and mode — never as `notPollable` (issue 27). An io_uring poll can end a
// reset with a completion that is a bare POLLERR (see PollEvents(ringPollMask:)); the
// kernel posts it only when the loop runs its task work in a window of a few hundred
// nanoseconds, so these tests have the ring post one at will, through a MSG_RING.
// epoll reports the state, never that key: there the same reads run without it.

extension SerializedTests.FDTests {
    @Suite struct ResetReadTests {
        /// Reads `conn` until end of stream or ECONNRESET, with the borrowed read or
        /// the copying one; anything else thrown fails the test.
        static func readToEnd(_ conn: TCPConn, borrowed: Bool) async throws -> (bytes: [UInt8], reset: Bool) {
            var got: [UInt8] = []
            do {
                while true {
                    let chunk = borrowed ? try await conn.readBorrowed { Array($0) } : try await conn.read(maxCount: 65536)
                    if chunk.isEmpty { return (got, false) }
                    got += chunk
                }
            } catch let e as NetpollError where e.errno == ECONNRESET {
                return (got, true)
            }
        }

        /// Has `conn`'s loop deliver a bare POLLERR poll completion for it, and waits
        /// until the loop has taken it: the MSG_RING goes in with the loop's next enter
        /// and a message to its own ring is posted at once, so the poll turn after the
        /// posting job delivers it, before the loop runs the next job. False on epoll.
        static func deliverBareError(to conn: TCPConn) async throws -> Bool {
            let pd = conn.fd.pd
            let loop = conn.loop
            let posted = try await loop.submit { try loop.postRingPollCompletion(for: pd, mask: UInt32(POLLERR)) }
            if posted {
                try await loop.submit {}
                try await loop.submit {}
            }
            return posted
        }

        /// The reset lands with the data unread; then the bare POLLERR; then the reads.
        @Test(arguments: loopConfigs)
        func aBareErrorAfterAResetStillReadsTheDataThenTheEnd(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                for i in 0..<8 {
                    let (client, server) = try await tcpConnPair(group: group)
                    let msg = (0..<(1 + i * 301)).map { patternByte(UInt64(i), $0) }
                    try await client.write(msg)
                    try setLingerZero(client.fd.sysfd)
                    try await client.close()
                    _ = try await Self.deliverBareError(to: server)
                    let end = try await within(.seconds(5), "connection \(i): read after reset") {
                        try await Self.readToEnd(server, borrowed: i % 2 == 0)
                    }
                    // A reset may discard data not yet read; what was read is a prefix.
                    #expect(end.bytes == msg || (end.reset && msg.starts(with: end.bytes)), "connection \(i): \(end.bytes.count) of \(msg.count) bytes")
                    try await server.close()
                }
            }
        }

        /// The data is read first (a short read: the next read waits for the next
        /// event without a read(2), FD.receiveQueueDrained); a bare POLLERR wakes the
        /// parked read, and the reset comes after: the read must try again, wait, and
        /// end with ECONNRESET or end of stream.
        @Test(arguments: loopConfigs)
        func aBareErrorAfterAShortReadEndsTheWaitingReadWithTheReset(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                for i in 0..<8 {
                    let (client, server) = try await tcpConnPair(group: group)
                    try await client.write([1, 2, 3])
                    let first = try await within(.seconds(5), "connection \(i): first read") {
                        try await SerializedTests.FDTests.ShortReadWakeupTests.readShort(server, count: 3)
                    }
                    #expect(first == [1, 2, 3])
                    let waiting = Task { try await Self.readToEnd(server, borrowed: i % 2 == 0) }
                    try await Task.sleep(for: .milliseconds(5))  // parked
                    _ = try await Self.deliverBareError(to: server)
                    try setLingerZero(client.fd.sysfd)
                    try await client.close()
                    let end = try await within(.seconds(5), "connection \(i): the waiting read") { try await waiting.value }
                    #expect(end.bytes.isEmpty, "connection \(i): bytes after the reset: \(end.bytes)")
                    try await server.close()
                }
            }
        }
    }
}
