import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests {
    /// `netpoll echo-server` prints its statistics on SIGUSR1 and keeps serving
    /// (issue 12), then once more at exit: runs the built binary as a child on every
    /// backend, echoes through it between the signals, and reads the counters back.
    @Suite struct EchoServerStatisticsSignalTests {
        static let message = [UInt8]("statistics, please\n".utf8)

        /// The value of `"key":N` in one JSON line.
        static func counter(_ key: String, in line: String) -> Int? {
            guard let r = line.firstRange(of: "\"\(key)\":") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }

        static func echoOnce(port: Int, group: LoopGroup) async throws {
            let conn = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group)
            try await conn.write(message)
            try conn.setReadDeadline(.now + .seconds(5))
            var got: [UInt8] = []
            while got.count < message.count {
                let chunk = try await conn.read(maxCount: 64)
                if chunk.isEmpty { break }
                got += chunk
            }
            #expect(got == message)
            try await conn.close()
        }

        /// Signals SIGUSR1 and returns the line it prints, again until `bytes_written`
        /// reaches `written`: the echo's write is counted once send(2) has returned,
        /// which may be after the client has read the echo.
        static func statistics(of server: NetpollProcess, written: Int) throws -> String {
            var line = ""
            for _ in 0..<100 {
                // Signalled again each second until a line comes (10 s in all): a signal
                // a thread of the server's took before Dispatch could is lost, and one
                // lost signal must not read as a server that stopped answering.
                var answer: String?
                for _ in 0..<10 where answer == nil {
                    server.signal(SIGUSR1)
                    answer = server.readLine(within: .seconds(1))
                }
                line = try #require(answer, "no line after SIGUSR1; stderr: \(server.stderrText())")
                if counter("bytes_written", in: line) == written { break }
                usleep(10_000)
            }
            return line
        }

        @Test(arguments: loopConfigs)
        func sigusr1PrintsStatisticsAndTheServerKeepsServing(config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            let server = try NetpollProcess(["echo-server", "--loops", "1"], environment: config.environment)
            let port = try server.listeningPort()

            try await withNetGroup(config) { group in
                try await Self.echoOnce(port: port, group: group)
                let first = try Self.statistics(of: server, written: Self.message.count)
                #expect(first.contains("\"final\":false"), "\(first)")
                #expect(Self.counter("connections_accepted", in: first) == 1, "\(first)")
                #expect(Self.counter("bytes_read", in: first) == Self.message.count, "\(first)")
                #expect(Self.counter("bytes_written", in: first) == Self.message.count, "\(first)")
                #expect(server.reap() == .stillRunning, "SIGUSR1 stopped the server: \(server.status)")

                // Still serving, and the counters moved on.
                try await Self.echoOnce(port: port, group: group)
                let second = try Self.statistics(of: server, written: 2 * Self.message.count)
                #expect(Self.counter("connections_accepted", in: second) == 2, "\(second)")
                #expect(Self.counter("bytes_read", in: second) == 2 * Self.message.count, "\(second)")
                #expect(Self.counter("bytes_written", in: second) == 2 * Self.message.count, "\(second)")
            }

            server.signal(SIGTERM)
            let status = server.wait(within: .seconds(10))
            #expect(status == .exited(0), "echo-server \(status); stderr: \(server.stderrText())")
            // Past any SIGUSR1 line a repeated signal left behind.
            var last = ""
            while let line = server.readLine(within: .seconds(2)) {
                last = line
                if line.contains("\"final\":true") { break }
            }
            #expect(last.contains("\"final\":true"), "no final statistics line after SIGTERM: \(last)")
            #expect(Self.counter("connections_accepted", in: last) == 2, "\(last)")
        }
    }
}
