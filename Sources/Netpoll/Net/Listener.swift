#if canImport(Glibc)
import Glibc
#endif

/// A listening stream socket (Go: net.Listener).
public protocol Listener: Sendable {
    associatedtype Connection: Conn
    var fd: FD { get }
    var group: LoopGroup { get }
    /// Waits for and returns the next connection, registered on one of the group's
    /// loops (round-robin, so connections spread over the loops).
    func accept() async throws -> Connection
}

extension Listener {
    public var address: SocketAddress? { Socket.localAddress(fd.sysfd) }

    /// Deadline for ``accept()`` (Go: TCPListener.SetDeadline): nil clears; a past
    /// instant fails a pending and every later accept with
    /// ``NetpollError/deadlineExceeded`` until changed.
    public func setDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .readWrite)
    }

    /// Stops accepting: a blocked ``accept()`` ends with ``NetpollError/netClosing``.
    public func close() async throws { try await fd.close() }

    /// Accepts connections until the listener is closed or the task cancelled, and
    /// runs `handler` for each on that connection's own loop (so its wakeups never
    /// hop threads). The connection is closed when the handler returns. Errors a
    /// handler throws end only that connection.
    ///
    /// The handler runs isolated to the connection's loop (``EventLoop/isolation``),
    /// in a task with no executor preference: nonsending async functions it calls
    /// stay on the loop's thread; a `@concurrent` one runs on the global executor.
    ///
    /// Running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) is
    /// temporary, as Go's http.Server treats it: the loop backs off (5 ms, doubling
    /// to 100 ms) and goes on. While descriptors are short it does not take
    /// connections from the backlog at all: it asks the kernel for the lowest free
    /// descriptor number (see ``DescriptorLimit``) and accepts again only when that is
    /// below the reserve line, so queued clients are served as others close instead
    /// of being accepted and dropped.
    ///
    /// Timeouts for stalled peers are the handler's, with the deadline API, as in
    /// Go's `http.Server` (`IdleTimeout`, `WriteTimeout`):
    ///
    /// ```swift
    /// try await listener.serve { conn in
    ///     while true {
    ///         try conn.setReadDeadline(after: .seconds(30))   // idle timeout
    ///         let n = try await conn.read(into: buf)
    ///         if n == 0 { return }
    ///         try conn.setWriteDeadline(after: .seconds(10))  // write timeout
    ///         try await conn.write(UnsafeRawBufferPointer(rebasing: buf[..<n]))
    ///     }
    /// }
    /// ```
    public func serve(_ handler: @escaping @Sendable (Connection) async throws -> Void) async throws {
        // The accept loop runs isolated to the listener's own loop: its wakeups and
        // the registration of each new descriptor then need no thread hop.
        try await Self.acceptLoop(self, fd.loop.isolation, handler)
    }

    private static func acceptLoop(
        _ listener: Self, _ isolation: isolated LoopIsolation,
        _ handler: @escaping @Sendable (Connection) async throws -> Void
    ) async throws {
        isolation.preconditionIsolated()  // keeps the hop (docs/runtime-tricks.md#precondition-isolated)
        var backoff = AcceptBackoff()
        // The connection tasks' parks skip their cancellation handlers: their group
        // is cancelled when this task is, or when the accept loop throws, and both
        // call `covered.cancel()` (PollDesc+Cover.swift).
        let covered = CoveredWaits()
        try await withTaskCancellationHandler {
            // Both closures are @concurrent function types in the standard library:
            // only a closure that captures the isolated parameter stays on the loop
            // (see PollDesc.block); otherwise the accept loop runs on the pool.
            _ = isolation  // see docs/runtime-tricks.md#keep-hop
            try await withThrowingDiscardingTaskGroup { tasks in
                _ = isolation  // see docs/runtime-tricks.md#keep-hop
                do {
                    while let conn = try await listener.accept(backingOff: &backoff) {
                        if conn.loop.isolation === isolation {
                            // On the listener's loop: a closure that captures the
                            // isolated parameter is isolated to it, so the immediate
                            // task starts the handler on the spot. One isolated by a
                            // capture list (below) starts with a hop onto the loop's
                            // queue: one more job, and one more poll, per connection.
                            tasks.addImmediateTask {
                                _ = isolation  // see docs/runtime-tricks.md#keep-hop
                                await Self.serveConnection(conn, isolation, covered, handler)
                            }
                            continue
                        }
                        // Isolated to the connection's loop, reached with a hop (see runIsolated).
                        tasks.addImmediateTask { [isolation = conn.loop.isolation] in
                            await Self.serveConnection(conn, isolation, covered, handler)
                        }
                    }
                } catch {
                    // The error cancels the group as it leaves the body.
                    covered.cancel()
                    throw error
                }
            }
        } onCancel: {
            covered.cancel()
        }
    }

    /// A connection's task under `serve`.
    private static func serveConnection(
        _ conn: Connection, _ isolation: isolated LoopIsolation, _ covered: CoveredWaits,
        _ handler: @Sendable (Connection) async throws -> Void
    ) async {
        isolation.preconditionIsolated()  // keeps the hop (docs/runtime-tricks.md#precondition-isolated)
        covered.cover(conn.fd)
        do { try await handler(conn) } catch {}
        covered.uncover(conn.fd)
        try? await conn.close()
    }

    /// The next connection, waiting out descriptor exhaustion and other resource
    /// shortages (Go's http.Server back-off) instead of failing; nil once the
    /// listener is closed.
    func accept(backingOff backoff: inout AcceptBackoff) async throws -> Connection? {
        while true {
            if backoff.isActive && !DescriptorLimit.hasRoom(probing: fd.sysfd) {
                try await Task.sleep(for: backoff.next())
                continue
            }
            do {
                let conn = try await accept()
                backoff.reset()
                return conn
            } catch let e as NetpollError where AcceptBackoff.isTemporary(e) {
                try await Task.sleep(for: backoff.next())
            } catch NetpollError.netClosing {
                return nil
            }
        }
    }
}

/// Go's http.Server accept back-off: 5 ms, doubling, capped (100 ms here, so a
/// freed descriptor is taken up quickly); reset by the next successful accept.
struct AcceptBackoff {
    static let first: Duration = .milliseconds(5)
    static let cap: Duration = .milliseconds(100)
    private var delay: Duration = .zero

    var isActive: Bool { delay > .zero }

    mutating func next() -> Duration {
        delay = delay == .zero ? Self.first : min(delay * 2, Self.cap)
        return delay
    }

    mutating func reset() { delay = .zero }

    /// Resource shortages an accept loop waits out rather than ends on.
    static func isTemporary(_ e: NetpollError) -> Bool {
        guard let errno = e.errno else { return false }
        return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM
    }
}
