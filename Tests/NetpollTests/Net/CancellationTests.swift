import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Swift's counterpart of Go's "close to unblock": cancelling the task that waits.
// A cancelled read ends with CancellationError and leaves the connection usable.

extension SerializedTests.NetTests {
    @Suite struct CancellationTests {
        @Test(arguments: loopConfigs)
        func cancellingABlockedReadEndsItAndTheConnStillWorks(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let reader = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(50))  // let it park
                reader.cancel()
                do {
                    let got = try await within(.seconds(5), "cancelled read") { try await reader.value }
                    Issue.record("cancelled read returned \(got)")
                } catch is CancellationError {
                    // expected
                } catch {
                    Issue.record("cancelled read threw \(error), expected CancellationError")
                }

                // The read lock and the PollDesc are free again: data sent afterwards arrives.
                try await server.write(Array("after".utf8))
                let got = try await within(.seconds(5), "read after cancellation") { try await readFully(client, count: 5) }
                #expect(got == Array("after".utf8))

                // Cancel again, now with a read deadline pending: still a cancellation, and
                // the later timer firing does no harm.
                try client.setReadDeadline(.now + .milliseconds(300))
                let reader2 = Task { try await client.read(maxCount: 100) }
                try await Task.sleep(for: .milliseconds(50))
                reader2.cancel()
                await #expect(throws: CancellationError.self) { _ = try await within(.seconds(5), "second cancelled read") { try await reader2.value } }
                try await Task.sleep(for: .milliseconds(400))
                try client.setReadDeadline(nil)
                try await server.write([1])
                #expect(try await within(.seconds(5), "read after the old deadline") { try await client.read(maxCount: 10) } == [1])

                // Writes were never affected.
                try await client.write([2])
                #expect(try await within(.seconds(5), "peer read") { try await server.read(maxCount: 10) } == [2])
                try await client.close()
                try await server.close()
            }
        }

        @Test(arguments: loopConfigs)
        func cancellingABlockedAcceptEndsIt(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let acceptor = Task { try await listener.accept() }
                try await Task.sleep(for: .milliseconds(50))
                acceptor.cancel()
                await #expect(throws: CancellationError.self) {
                    let c = try await within(.seconds(5), "cancelled accept") { try await acceptor.value }
                    try? await c.close()
                }
                // The listener still accepts.
                async let dialled = TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                let accepted = try await within(.seconds(5), "accept after cancellation") { try await listener.accept() }
                try await dialled.close()
                try await accepted.close()
                try await listener.close()
            }
        }

        /// Cancelling `serve` ends every connection handler parked in a read (a handler
        /// that has already parked and woken once), and closes its connection.
        @Test(arguments: loopConfigs)
        func cancellingServeEndsHandlersParkedInReads(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let parkedAgain = Counter()
                let ended = Counter()
                let serving = Task {
                    try await listener.serve { conn in
                        defer { ended.add() }
                        // Park more than once: one echo, then wait for data that never comes.
                        let first = try await conn.read(maxCount: 16)
                        try await conn.write(first)
                        parkedAgain.add()
                        _ = try await conn.read(maxCount: 16)
                    }
                }
                var clients: [TCPConn] = []
                for i in 0..<8 {
                    let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                    try await c.write([UInt8(i)])
                    #expect(try await readFully(c, count: 1) == [UInt8(i)])
                    clients.append(c)
                }
                try await waitUntil("handlers parked a second time") { parkedAgain.value == 8 }
                try await Task.sleep(for: .milliseconds(20))
                serving.cancel()
                _ = try await within(.seconds(5), "serve ends after cancellation") { await serving.result }
                #expect(ended.value == 8, "handlers still parked after serve was cancelled")
                for c in clients {
                    let eof = try await within(.seconds(5), "connection closed by the server") { try await c.read(maxCount: 16) }
                    #expect(eof.isEmpty)
                    try await c.close()
                }
                try await listener.close()
            }
        }

        /// A handler parked in a write (its peer reads nothing) ends when serve is
        /// cancelled: the serving task's one cancellation handler unblocks writes too.
        @Test(arguments: loopConfigs)
        func cancellingServeEndsHandlersParkedInWrites(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let writing = Counter()
                let ended = Mutex<String?>(nil)
                let serving = Task {
                    try await listener.serve { conn in
                        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
                        do {
                            while true {
                                try await conn.write(chunk)
                                writing.add()
                            }
                        } catch {
                            ended.locked { $0 = "\(error)" }
                            throw error
                        }
                    }
                }
                let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                // The send and receive buffers fill, then the handler parks in a write.
                try await waitUntil("the handler wrote") { writing.value > 0 }
                var last = -1
                while writing.value != last {
                    last = writing.value
                    try await Task.sleep(for: .milliseconds(50))
                }
                serving.cancel()
                _ = try await within(.seconds(5), "serve ends after cancellation") { await serving.result }
                #expect(ended.locked { $0 } != nil, "the handler's write never ended")
                try await c.close()
                try await listener.close()
            }
        }

        /// Cancelling only a child task of a connection handler ends the child's read
        /// and leaves the handler (and its connection) going.
        @Test(arguments: loopConfigs)
        func cancellingAChildOfAServeHandlerEndsItsRead(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let childResult = Mutex<String?>(nil)
                let serving = Task {
                    try await listener.serve { conn in
                        try await withThrowingTaskGroup(of: Void.self) { children in
                            children.addTask { _ = try await conn.read(maxCount: 16) }
                            try await Task.sleep(for: .milliseconds(50))  // let the child park
                            children.cancelAll()
                            do {
                                try await children.waitForAll()
                                childResult.locked { $0 = "returned" }
                            } catch is CancellationError {
                                childResult.locked { $0 = "cancelled" }
                            } catch {
                                childResult.locked { $0 = "\(error)" }
                            }
                        }
                        try await conn.write([42])  // the handler itself carries on
                    }
                }
                let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
                let got = try await within(.seconds(5), "handler goes on after its child's read was cancelled") {
                    try await readFully(c, count: 1)
                }
                #expect(got == [42])
                #expect(childResult.locked { $0 } == "cancelled")
                serving.cancel()
                _ = await serving.result
                try await c.close()
                try await listener.close()
            }
        }

        /// A covered park (no cancellation handler of its own) that its server wakes
        /// *before* the runtime has flagged the task cancelled parks again, now
        /// uncovered and with a handler, so the cancellation that follows still ends
        /// it. This is the order a serve whose accept loop fails produces.
        @Test(arguments: loopConfigs)
        func aCoveredReadWokenBeforeItsCancellationStillEndsWithIt(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let covered = CoveredWaits()
                let reader = Task {
                    covered.cover(client.fd)
                    defer { covered.uncover(client.fd) }
                    return try await client.read(maxCount: 16)
                }
                let pd = client.fd.pd
                try await waitUntil("the covered reader parked") {
                    pd.rg.load(ordering: .acquiring) == PollDesc.pdParked && pd.coveredTask.load(ordering: .relaxed) != 0
                }
                covered.cancel()  // the server's wake, with the task not cancelled (yet)
                try await waitUntil("the reader parked again, uncovered") {
                    pd.rg.load(ordering: .acquiring) == PollDesc.pdParked && pd.coveredTask.load(ordering: .relaxed) == 0
                }
                reader.cancel()
                await #expect(throws: CancellationError.self) {
                    _ = try await within(.seconds(5), "the uncovered read ends on cancellation") { try await reader.value }
                }
                // Covers are refused once cancelled: a new task's parks keep their handler.
                let late = Task {
                    covered.cover(client.fd)
                    defer { covered.uncover(client.fd) }
                    return pd.coveredTask.load(ordering: .relaxed)
                }
                #expect(await late.value == 0)
                try await client.close()
                try await server.close()
            }
        }
    }
}
