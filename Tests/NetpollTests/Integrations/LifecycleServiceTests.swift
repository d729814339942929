#if Lifecycle
import Logging
import NetpollLifecycle
import ServiceLifecycle
import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.IntegrationTests {
    /// NetpollLifecycle: a LoopGroupService in a ServiceGroup. Graceful shutdown
    /// closes the listener (new dials are refused), lets a connection in flight
    /// finish, then stops the loops; a connection that outlives the grace period is
    /// cancelled. On every backend.
    @Suite struct LifecycleTests {
        static func isRefused(_ port: Int, group: LoopGroup) async -> Bool {
            do {
                let c = try await TCPConn.connect(host: "127.0.0.1", port: port, timeout: .seconds(2), group: group)
                try? await c.close()
                return false
            } catch let e as NetpollError {
                return e.errno == ECONNREFUSED
            } catch {
                return false
            }
        }

        /// Polls until a dial to `port` is refused.
        static func waitUntilRefused(_ port: Int, group: LoopGroup) async throws {
            let end = ContinuousClock.now + .seconds(10)
            while !(await isRefused(port, group: group)) {
                try #require(ContinuousClock.now < end, "dials are still accepted after the graceful shutdown")
                try await Task.sleep(for: .milliseconds(5))
            }
        }

        @Test(arguments: loopConfigs)
        func gracefulShutdownRefusesNewDialsFinishesInFlightConnectionsAndStopsTheLoops(config: PollerConfig) async throws {
            // The clients' group also checks that the service's group, its loops
            // stopped, left no descriptor open.
            try await withLoopGroup(config) { clients in
                let group = try LoopGroup(loops: 2, backend: config.backend)
                let service = LoopGroupService(group: group, gracePeriod: .seconds(30))
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let sawShutdown = Atomic<Int>(0)
                service.serve(listener) { conn in
                    try await echoHandler(conn)
                    if Task.isShuttingDownGracefully { sawShutdown.add(1, ordering: .relaxed) }
                }
                let services = ServiceGroup(services: [service], logger: Logger(label: "test"))
                let running = Task { try await services.run() }

                let inFlight = try await TCPConn.connect(host: "127.0.0.1", port: port, group: clients)
                #expect(try await echoRoundTrip(inFlight, Array("before".utf8)) == Array("before".utf8))

                await services.triggerGracefulShutdown()
                try await Self.waitUntilRefused(port, group: clients)
                // The connection accepted before the shutdown is still served...
                #expect(try await echoRoundTrip(inFlight, Array("during".utf8)) == Array("during".utf8))
                #expect(!group.isShutDown, "the loops stopped while a connection was in flight")
                // ...and when it ends, the service ends and the loops stop.
                try await inFlight.close()
                try await running.value
                #expect(group.isShutDown)
                // (A probe dial that got in before the listener closed may have seen it too.)
                #expect(sawShutdown.load(ordering: .relaxed) >= 1, "the handler did not see the graceful shutdown")
            }
        }

        @Test(arguments: loopConfigs)
        func aConnectionStillOpenAfterTheGracePeriodIsCancelled(config: PollerConfig) async throws {
            try await withLoopGroup(config) { clients in
                let group = try LoopGroup(loops: 1, backend: config.backend)
                let service = LoopGroupService(group: group, gracePeriod: .milliseconds(200))
                let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(listener.address?.port)
                let handlerEnded = Mutex<(any Error)?>(nil)
                service.serve(listener) { conn in
                    do { try await echoHandler(conn) } catch {
                        handlerEnded.withLock { $0 = error }
                        throw error
                    }
                }
                let services = ServiceGroup(services: [service], logger: Logger(label: "test"))
                let running = Task { try await services.run() }

                let idle = try await TCPConn.connect(host: "127.0.0.1", port: port, group: clients)
                #expect(try await echoRoundTrip(idle, [1]) == [1])
                let start = ContinuousClock.now
                await services.triggerGracefulShutdown()
                try await running.value
                let took = ContinuousClock.now - start
                #expect(took >= .milliseconds(200), "the grace period was not given: \(took)")
                #expect(group.isShutDown)
                #expect(handlerEnded.withLock { $0 } is CancellationError, "\(String(describing: handlerEnded.withLock { $0 }))")
                // The server closed its end: the client reads end of stream.
                try idle.setReadDeadline(.now + .seconds(5))
                #expect(try await idle.read(maxCount: 1).isEmpty)
                try await idle.close()
            }
        }
    }
}
#endif
