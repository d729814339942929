#if Lifecycle
import Netpoll
import ServiceLifecycle
import Synchronization

/// A ``LoopGroup`` and the listeners it serves, run as a swift-service-lifecycle
/// `Service`.
///
/// ``run()`` serves every listener given to ``serve(_:handler:)``. On graceful
/// shutdown (a signal the `ServiceGroup` watches, or `triggerGracefulShutdown()`):
///
/// 1. the listeners close: new dials are refused, connections already accepted go on;
/// 2. connections get up to `gracePeriod` to finish; a handler learns of the shutdown
///    through swift-service-lifecycle's `Task.isShuttingDownGracefully` or
///    `withGracefulShutdownHandler` (the connection tasks are children of `run()`),
///    which is how a keep-alive protocol stops after the request in progress;
/// 3. when the period is over, the connections still open are cancelled (a read or
///    write in progress ends with `CancellationError`, and the connection is closed);
/// 4. the loops stop (``LoopGroup/shutdown()``), unless `shutsDownGroup` is false.
///
/// Cancelling `run()` (the group's cancellation, not graceful) skips the grace period.
///
/// ```swift
/// let group = try LoopGroup()
/// let service = LoopGroupService(group: group, gracePeriod: .seconds(10))
/// service.serve(try await TCPListener.listen(port: 8080, group: group)) { conn in … }
/// let services = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await services.run()
/// ```
public final class LoopGroupService: Service, Sendable {
    public let group: LoopGroup
    public let gracePeriod: Duration
    public let shutsDownGroup: Bool
    private let servers = Mutex<[Server]?>([])

    /// One listener and what to do with its connections, type-erased.
    private struct Server: Sendable {
        let serve: @Sendable () async throws -> Void
        let close: @Sendable () async -> Void
    }

    public init(group: LoopGroup, gracePeriod: Duration = .seconds(30), shutsDownGroup: Bool = true) {
        self.group = group
        self.gracePeriod = gracePeriod
        self.shutsDownGroup = shutsDownGroup
    }

    /// Serves `listener` with `handler` (as ``Listener/serve(_:)`` does) once
    /// ``run()`` starts. Must be called before ``run()``.
    public func serve<L: Listener>(_ listener: L, handler: @escaping @Sendable (L.Connection) async throws -> Void) {
        let server = Server(
            serve: { try await listener.serve(handler) },
            close: {
                // UnixListener's own close also removes its socket file.
                if let unix = listener as? UnixListener { try? await unix.close() } else { try? await listener.close() }
            })
        servers.withLock { list in
            precondition(list != nil, "netpoll: LoopGroupService.serve called after run()")
            list!.append(server)
        }
    }

    private struct GracePeriodOver: Error {}

    /// Serves until every listener has closed and its connections have ended (after a
    /// graceful shutdown, or a listener closed by the program), or until cancelled;
    /// then stops the loops. Must not run on one of the group's loop threads (it
    /// joins them).
    public func run() async throws {
        let servers = self.servers.withLock { list in
            let taken = list ?? []
            list = nil
            return taken
        }
        defer { if shutsDownGroup { group.shutdown() } }
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await withThrowingDiscardingTaskGroup { serving in
                        for server in servers { serving.addTask { try await server.serve() } }
                    }
                }
                tasks.addTask {
                    // Returns at graceful shutdown; throws when cancelled (then the
                    // serving task is being cancelled too).
                    try await gracefulShutdown()
                    for server in servers { await server.close() }
                    try await Task.sleep(for: self.gracePeriod)
                    throw GracePeriodOver()
                }
                // The first to end decides: serving done (every connection finished)
                // cancels the grace timer; the timer ending cancels what still serves.
                do {
                    try await tasks.next()
                } catch is GracePeriodOver {}
                tasks.cancelAll()
                while let _ = try? await tasks.next() {}
            }
        } catch is CancellationError {
            // Cancelled by the service group: not a failure of this service.
        }
    }
}
#endif
