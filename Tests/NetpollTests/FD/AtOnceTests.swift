import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Conn.readBorrowed and Conn.write try their operation at once in a synchronous
// call before the async path (FD+AtOnce.swift). What that must not change: a write
// that goes out in part keeps the write lock until the rest is written, and a read
// that finds nothing leaves the async read to wait without asking the kernel again.

extension SerializedTests.FDTests {
    @Suite struct AtOnceTests {
        /// Full reads (exactly the size asked) leave no short-read hint, so each read
        /// after an echo finds nothing: the attempt at once gets EAGAIN, and the async
        /// read must go straight to its wait.
        @Test(arguments: loopConfigs)
        func aBorrowedReadThatFindsNothingAsksTheKernelOnceBeforeItWaits(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let size = 16
                let serving = Task(executorPreference: server.loop) {
                    while true {
                        let open = try await server.readBorrowed(upTo: size) { bytes in
                            if bytes.isEmpty { return false }
                            try await server.write(bytes)
                            return true
                        }
                        if !open { return }
                    }
                }
                // Let the server reach its first wait before counting.
                try await Task.sleep(for: .milliseconds(20))
                let before = group.statistics.ioSyscalls
                let rounds = 2000
                try await within(.seconds(60), "\(rounds) round trips") {
                    try await pingPong(client, rounds: rounds) { _ in size }
                }
                // Per round trip at most: the client's write, read → EAGAIN and read;
                // the server's read → EAGAIN (at once), read after the wakeup, write:
                // 6. Asking the kernel twice before the server's wait makes it 7.
                // (Not under fault injection, whose EAGAINs and short counts add calls.)
                let perRoundTrip = Double(group.statistics.ioSyscalls - before) / Double(rounds)
                #expect(perRoundTrip < 6.5 || faultInjectionIsOn, "I/O syscalls per round trip: \(perRoundTrip)")
                // At least the two writes (completion mode reads through the ring).
                #expect(perRoundTrip >= 2, "I/O syscalls per round trip: \(perRoundTrip)")
                try client.closeWrite()
                try await within(.seconds(5), "echo sees end of stream") { try await serving.value }
                try await client.close()
                try await server.close()
            }
        }

        /// Four writers share one connection whose buffers are small, so almost every
        /// write goes out in part at once and finishes after waits: each write's bytes
        /// must still arrive as one run, and each be counted once.
        @Test(arguments: loopConfigs)
        func writesThatGoOutInPartKeepTheirLockUntilTheyFinish(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                // Buffers well below a block, so a write cannot go out whole at once
                // (tiny ones would make loopback crawl through zero-window probes).
                try client.setWriteBuffer(32768)
                try server.setReadBuffer(32768)
                let writers = 4, writesEach = 4, block = 300_000
                let total = writers * writesEach * block
                let bytesBefore = group.statistics.bytesWritten
                let reading = Task { () -> [UInt8] in
                    var runs: [UInt8] = []  // the tag of each run, in order
                    var inRun = 0
                    var current: UInt8 = 0
                    var count = 0
                    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
                    defer { buf.deallocate() }
                    while count < total {
                        let n = try await server.read(into: buf)
                        if n == 0 { break }
                        for b in buf[0..<n] {
                            if inRun == 0 {
                                current = b
                                runs.append(b)
                            } else if b != current {
                                Issue.record("byte \(count): \(b) inside a run of \(current) (\(inRun) of \(block))")
                                return runs
                            }
                            inRun += 1
                            if inRun == block { inRun = 0 }
                            count += 1
                        }
                    }
                    return runs
                }
                try await within(.seconds(60), "\(writers) writers") {
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        for w in 0..<writers {
                            tasks.addTask {
                                let data = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: 1)
                                defer { data.deallocate() }
                                data.initializeMemory(as: UInt8.self, repeating: UInt8(w + 1))
                                for _ in 0..<writesEach { try await client.write(UnsafeRawBufferPointer(data)) }
                            }
                        }
                        try await tasks.waitForAll()
                    }
                }
                let runs = try await within(.seconds(30), "reader") { try await reading.value }
                #expect(runs.count == writers * writesEach)
                for w in 0..<writers {
                    #expect(runs.filter { $0 == UInt8(w + 1) }.count == writesEach, "writer \(w)")
                }
                #expect(group.statistics.bytesWritten - bytesBefore == UInt64(total))
                try await client.close()
                try await server.close()
            }
        }
    }
}
