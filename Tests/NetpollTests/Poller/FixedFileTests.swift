import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Issue 24, item 1: fixed files. Each descriptor the ring works on gets a slot of
// the ring's file table and, once the kernel confirms it, its requests name the
// slot. A full table must leave the rest on their descriptors, a closed descriptor
// must give its slot back and really close (the peer sees FIN: the table's own
// reference to the file went too), and nothing may leak. (The whole suite also runs
// with the feature on: the `*-allfeatures` configurations.)

extension SerializedTests.PollerTests {
    @Suite struct FixedFileTests {
        static func skipReason() -> String? { URingPoller.Feature.fixedFiles.unsupportedReason }

        /// Polls until `done` or 5 s.
        static func pollUntil(
            _ p: URingPoller, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
            received: (PollToken, RingReceipt) -> Void = { _, r in _ = r }, events: (PollToken, PollEvents) -> Void = { _, _ in },
            _ done: () -> Bool
        ) throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while !done() && ContinuousClock.now < deadline {
                _ = try p.poll(timeout: .milliseconds(50), events, received: received)
            }
            #expect(done(), "not within 5 s: \(what)", sourceLocation: sourceLocation)
        }

        /// A table of 4 slots and 10 connections, in every mode: 4 get slots (live once
        /// the kernel answered), 6 are counted as misses and use their descriptors,
        /// and every one of the 10 delivers its bytes. Closing frees the slots for
        /// the next connections; at the end no slot is in use, and every closed
        /// server end reached its peer as FIN.
        @Test(arguments: [URingPoller.Mode.multishot, .oneshot, .completion])
        func aFullTableLeavesTheRestOnTheirDescriptors(_ mode: URingPoller.Mode) throws {
            if let why = Self.skipReason() { print("skipped: \(why)"); return }
            try withNoFDLeak {
                var options = URingPoller.Options(mode: mode, features: .exactly([.fixedFiles]))
                options.fileTableSlots = 4
                let p = try URingPoller(options: options)
                defer { p.close() }
                #expect(p.fileTable?.capacity == 4)
                var pairs: [(Int32, Int32)] = []
                var tokens: [PollToken] = []
                defer { for (_, b) in pairs { close(b) } }
                func open(_ n: Int, from first: Int) throws {
                    for i in first..<(first + n) {
                        let pair = try makeSocketPair()
                        pairs.append(pair)
                        let t = PollToken(slot: UInt32(i + 1), seq: 1)
                        tokens.append(t)
                        try p.register(fd: pair.0, token: t, receiving: mode == .completion)
                    }
                }
                try open(10, from: 0)
                #expect(p.counters.fileTableMisses == 6)
                #expect(p.fileSlotsInUse == 4)
                try Self.pollUntil(p, "the 4 slots confirmed") {
                    tokens.filter { p.table[$0.rawValue]?.slotLive == true }.count == 4
                }

                // Every connection, slot or not, delivers its bytes.
                var heard = Set<PollToken>()
                func expectAllHeard(_ live: [PollToken]) throws {
                    heard = []
                    for (i, t) in tokens.enumerated() where live.contains(t) {
                        #expect(writeBytes(pairs[i].1, [UInt8(i)]) == 1)
                        if mode == .completion {
                            #expect(try p.armReceive(token: t) == .receiving)
                        } else if mode == .oneshot {
                            try p.arm(token: t, events: .read)
                        }
                    }
                    try Self.pollUntil(p, "every connection's byte",
                        received: { t, r in
                            if case .data(let bid, _, _, _) = r { heard.insert(t); p.recycle(buffer: bid) }
                        },
                        events: { t, e in if e.contains(.read) { heard.insert(t) } }
                    ) { live.allSatisfy { heard.contains($0) } }
                }
                try expectAllHeard(tokens)

                // Close the first five (four of them had slots) through the ring: their
                // peers see FIN, and the freed slots go to the next five connections.
                var closed = 0
                for i in 0..<5 {
                    p.closeDescriptor(fd: pairs[i].0, token: tokens[i]) { closed += 1 }
                }
                try Self.pollUntil(p, "five CLOSEs answered") { closed == 5 }
                #expect(p.fileSlotsInUse == 0)
                for i in 0..<5 {
                    var byte: UInt8 = 0
                    try Self.pollUntil(p, "FIN at peer \(i)") { read(pairs[i].1, &byte, 1) == 0 }
                }
                try open(5, from: 10)
                #expect(p.fileSlotsInUse == 4)
                #expect(p.counters.fileTableMisses == 7)
                try Self.pollUntil(p, "the reused slots confirmed") {
                    tokens[10...].filter { p.table[$0.rawValue]?.slotLive == true }.count == 4
                }
                try expectAllHeard(Array(tokens[5...]))

                for i in 5..<15 { try p.deregister(fd: pairs[i].0, token: tokens[i]); close(pairs[i].0) }
                _ = try p.poll(timeout: .zero) { _, _ in }
                #expect(p.fileSlotsInUse == 0)
                #expect(p.buffersOut == 0)
            }
        }

        /// A listener with its ACCEPT in the kernel, a connection with its RECV in the
        /// kernel, and one whose writer waits for room (POLLOUT armed) — all on live
        /// slots — closed at once through the ring: every CLOSE is answered, no slot
        /// and no ring buffer stays out, the listener refuses new connects, and both
        /// connections' peers see FIN.
        @Test func closingWithAcceptReceiveAndWriteInFlightLeavesNothing() throws {
            if let why = Self.skipReason() { print("skipped: \(why)"); return }
            guard URingPoller.Feature.accept.unsupportedReason == nil else { print("skipped: no multishot ACCEPT"); return }
            try withNoFDLeak {
                let p = try URingPoller(options: .init(mode: .completion, features: .exactly([.fixedFiles, .accept])))
                defer { p.close() }
                let (listener, port) = try tcpListener()
                let lt = PollToken(slot: 1, seq: 1)
                #expect(try p.register(fd: listener.raw, token: lt, role: .listener))
                let reader = try makeSocketPair(), writer = try makeSocketPair()
                defer { close(reader.1); close(writer.1) }
                let rt = PollToken(slot: 2, seq: 1), wt = PollToken(slot: 3, seq: 1)
                try p.register(fd: reader.0, token: rt, receiving: true)
                try p.register(fd: writer.0, token: wt, receiving: true)
                try Self.pollUntil(p, "three slots confirmed") {
                    [lt, rt, wt].allSatisfy { p.table[$0.rawValue]?.slotLive == true }
                }
                // Now every request names a slot.
                #expect(try p.armReceive(token: lt) == .receiving)
                #expect(try p.armReceive(token: rt) == .receiving)
                let chunk = [UInt8](repeating: 7, count: 65536)
                while writeBytes(writer.0, chunk) > 0 {}
                try p.arm(token: wt, events: .write)
                #expect(writeBytes(reader.1, [1, 2, 3]) == 3)
                var got = 0
                try Self.pollUntil(p, "the RECV's bytes", received: { _, r in
                    if case .data(let bid, _, let n, _) = r { got += n; p.recycle(buffer: bid) }
                }) { got == 3 }
                _ = try p.poll(timeout: .zero) { _, _ in }

                var closed = 0
                let listenerFD = listener.release()
                for (fd, t) in [(listenerFD, lt), (reader.0, rt), (writer.0, wt)] {
                    p.closeDescriptor(fd: fd, token: t) { closed += 1 }
                }
                try Self.pollUntil(p, "three CLOSEs answered", received: { _, r in
                    if case .data(let bid, _, _, _) = r { p.recycle(buffer: bid) }
                }) { closed == 3 }
                #expect(p.fileSlotsInUse == 0)
                #expect(p.buffersOut == 0)
                var byte: UInt8 = 0
                try Self.pollUntil(p, "FIN at the reader's peer") { read(reader.1, &byte, 1) == 0 }
                try Self.pollUntil(p, "FIN at the writer's peer") {
                    var sink = [UInt8](repeating: 0, count: 65536)
                    return read(writer.1, &sink, sink.count) == 0
                }
                let client = try tcpSocket()
                let rc = withSockaddr(loopback(port: port)) { connect(client.raw, $0, $1) }
                #expect(rc == -1 && errno == ECONNREFUSED, "the listener still accepts after its close")
            }
        }
    }
}
