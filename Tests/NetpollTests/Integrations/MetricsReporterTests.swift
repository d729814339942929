#if Metrics
import MetricsTestKit
import NetpollMetrics
import Testing
@testable import Netpoll

extension SerializedTests.IntegrationTests {
    /// NetpollMetrics: each loop's statistics reach a swift-metrics backend
    /// (MetricsTestKit's in-memory one), as counters that grow by what happened
    /// between updates and a gauge of open descriptors.
    @Suite struct MetricsReporterTests {
        @Test(arguments: loopConfigs)
        func loopStatisticsAreExportedAsCountersAndGauges(config: PollerConfig) async throws {
            try await withLoopGroup(config, loops: 2) { group in
                let metrics = TestMetrics()
                let reporter = NetpollMetricsReporter(group: group, dimensions: [("service", "test")], factory: metrics)
                let kind = group.backend.kind.rawValue
                func dims(_ loop: Int) -> [(String, String)] { [("loop", "\(loop)"), ("backend", kind), ("service", "test")] }
                func total(_ name: String) -> Int64 {
                    (0..<2).reduce(0) { $0 + metrics.counterTotal(label: "netpoll_\(name)", dimensions: dims($1)) }
                }
                func errors(_ kind: String) -> Int64 {
                    (0..<2).reduce(0) { $0 + metrics.counterTotal(label: "netpoll_errors", dimensions: dims($1) + [("kind", kind)]) }
                }

                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let serving = Task { try await listener.serve(echoHandler) }
                let client = try await TCPConn.connect(host: "127.0.0.1", port: port, group: group)
                let message = [UInt8](repeating: 42, count: 3000)
                #expect(try await echoRoundTrip(client, message) == message)
                // The echo's write is counted once send(2) returned, which may be after
                // the client has read it.
                try await waitUntil("the echo's write is counted") { group.statistics.bytesWritten == 6000 }

                reporter.update()
                #expect(total("connections_accepted") == 1)
                #expect(total("connections_dialed") == 1)
                // The server read and wrote 3000 bytes, the client wrote and read them back.
                #expect(total("bytes_read") == 6000)
                #expect(total("bytes_written") == 6000)
                #expect(total("writes") >= 2)
                #expect(total("parks") > 0)
                #expect(total("events") > 0)
                #expect(total("poll_calls_blocking") + total("poll_calls_nonblocking") > 0)
                #expect(total("poll_calls") == 0 && total("syscalls") == 0, "derived totals are not exported")
                // Three descriptors are open (listener, two ends), on some loop each.
                let open = try (0..<2).map { try metrics.expectGauge("netpoll_descriptors_open", dims($0)).lastValue ?? -1 }
                #expect(open.reduce(0, +) == 3, "\(open)")

                // A read that times out is counted by kind, and only the change is added.
                try client.setReadDeadline(.now + .milliseconds(10))
                await #expect(throws: NetpollError.deadlineExceeded) { _ = try await client.read(maxCount: 10) }
                #expect(try await echoRoundTrip(client, [1, 2, 3]) == [1, 2, 3])
                try await waitUntil("the echo's write is counted") { group.statistics.bytesWritten == 6006 }
                reporter.update()
                #expect(errors("timeout") == 1)
                #expect(errors("reset") == 0)
                #expect(total("bytes_read") == 6006)
                #expect(total("connections_accepted") == 1)

                try await client.close()
                try await listener.close()
                try await serving.value
            }
        }

        @Test(arguments: loopConfigs)
        func runUpdatesPeriodicallyAndOnceMoreWhenCancelled(config: PollerConfig) async throws {
            try await withLoopGroup(config) { group in
                let metrics = TestMetrics()
                let reporter = NetpollMetricsReporter(group: group, factory: metrics)
                let dims = [("loop", "0"), ("backend", group.backend.kind.rawValue)]
                let running = Task { await reporter.run(every: .milliseconds(10)) }
                func gauge() -> Double? { (try? metrics.expectGauge("netpoll_descriptors_open", dims))?.lastValue }

                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                try await waitUntil("the listener's descriptor is reported") { gauge() == 1 }
                try await listener.close()
                running.cancel()
                await running.value
                #expect(gauge() == 0, "the final update after cancellation is missing")
            }
        }
    }
}
#endif
