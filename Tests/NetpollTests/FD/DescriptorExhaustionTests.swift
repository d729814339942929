import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension PollerConfig {
    /// The environment that selects this configuration in a child `netpoll`.
    var environment: [String: String] {
        switch backend.kind {
        case .epoll:
            return ["NETPOLL_BACKEND": "epoll"]
        case .uring:
            return [
                "NETPOLL_BACKEND": "uring",
                "NETPOLL_URING_MODE": backend.uring.mode.rawValue,
                "NETPOLL_URING_SETUP": backend.uring.setup.rawValue,
                "NETPOLL_URING_FEATURES": backend.uring.features.description,
            ]
        }
    }
}

extension SerializedTests.FDTests {
    /// Issue 8: an echo server at its descriptor limit must neither die (libdispatch
    /// aborts the process when its own open fails with EMFILE) nor spin, and clients
    /// queued beyond capacity are served as others close. Runs `netpoll echo-server`
    /// in a child with a 64-descriptor limit, since a crash would take the test
    /// runner with it.
    @Suite struct DescriptorExhaustionTests {
        static let limit = 64
        static let clients = 200

        enum Probe: Sendable { case served, refused, waiting }

        /// Sends one byte and waits up to `patience` for its echo.
        static func probe(_ conn: TCPConn, patience: Duration) async -> Probe {
            do {
                try await conn.write([UInt8(ascii: "x")])
                try conn.setReadDeadline(.now + patience)
                let got = try await conn.read(maxCount: 16)
                return got.isEmpty ? .refused : .served
            } catch let e as NetpollError where e.isTimeout {
                return .waiting
            } catch {
                return .refused
            }
        }

        static func probeAll(_ conns: [TCPConn], patience: Duration) async -> [(TCPConn, Probe)] {
            await withTaskGroup(of: (Int, Probe).self) { group in
                for (i, c) in conns.enumerated() {
                    group.addTask { (i, await probe(c, patience: patience)) }
                }
                var out = [(TCPConn, Probe)?](repeating: nil, count: conns.count)
                for await (i, p) in group { out[i] = (conns[i], p) }
                return out.compactMap { $0 }
            }
        }

        @Test(arguments: loopConfigs)
        func echoServerSurvivesItsDescriptorLimitAndServesQueuedClientsLater(config: PollerConfig) async throws {
            guard config.canRunHere(descriptors: Self.clients + 64) else { return }
            let server = try NetpollProcess(
                ["echo-server", "--loops", "2", "--buffer-size", "512"],
                environment: config.environment, fileLimit: Self.limit)
            let port = try server.listeningPort()

            try await withNetGroup(config) { group in
                var conns: [TCPConn] = []
                for _ in 0..<Self.clients {
                    // The kernel completes the handshake for clients in the backlog.
                    conns.append(try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), group: group))
                }
                let first = await Self.probeAll(conns, patience: .milliseconds(500))
                let served = first.filter { $0.1 == .served }.map(\.0)
                let waiting = first.filter { $0.1 == .waiting }.map(\.0)
                #expect(served.count >= 16, "too few clients served under a limit of \(Self.limit)")
                #expect(served.count < Self.limit, "more clients served than the limit allows")
                #expect(waiting.count >= Self.clients / 2, "clients beyond capacity should wait in the backlog")

                // libdispatch's monitor used to abort the process about 0.5 s after the
                // table filled up: stay at the limit well past that.
                try await Task.sleep(for: .seconds(2))
                #expect(server.reap() == .stillRunning, "echo-server died at its descriptor limit: \(server.status); stderr: \(server.stderrText())")

                for c in served { try await c.close() }
                // Queued clients are served as descriptors free up (back-off ≤ 100 ms).
                let second = await Self.probeAll(Array(waiting.prefix(served.count)), patience: .seconds(3))
                let servedLater = second.filter { $0.1 == .served }.count
                #expect(servedLater >= min(waiting.count, served.count) / 2, "queued clients were not served after others closed: \(servedLater) of \(min(waiting.count, served.count))")
                #expect(server.reap() == .stillRunning)

                for c in conns where !served.contains(where: { $0 === c }) { try? await c.close() }
            }

            server.signal(SIGTERM)
            let status = server.wait(within: .seconds(10))
            #expect(status == .exited(0), "echo-server \(status); stderr: \(server.stderrText())")
            let stats = server.readLine(within: .seconds(2)) ?? ""
            #expect(stats.contains("\"connections_accepted\":"), "no statistics line after SIGTERM: \(stats)")
        }
    }
}
