import Synchronization

/// What a handler of ``Listener/serveOnInput(retireAfter:idleTimeout:_:)`` wants after a turn.
public enum AfterInput: Sendable {
    /// Wait for the next input: the connection stays open, and while it is idle
    /// no task serves it.
    case keepOpen
    /// Close the connection.
    case close
}

extension Listener {
    /// Accepts connections until the listener is closed or the task cancelled, and
    /// runs `handler` for a connection each time it has input (bytes, end of stream
    /// or an error to read), on that connection's own loop. The handler serves what
    /// it can — typically one read, and the writes it answers with — and returns
    /// ``AfterInput/keepOpen`` to wait for more, or ``AfterInput/close``.
    ///
    /// Unlike ``serve(_:)``, a connection with nothing to read holds no task: it
    /// starts without one, and one that stays idle for `retireAfter` (to twice
    /// that) gives its task up. An idle connection then costs its descriptor and
    /// PollDesc — a few hundred bytes — instead of a task and its task-allocator
    /// slabs, which a task keeps for its life.
    /// A busy connection keeps its task between turns, so a turn costs no task
    /// creation. This is the shape of the C epoll servers and SwiftNIO: code runs
    /// on readiness, and nothing waits on behalf of an idle connection.
    ///
    /// The handler should not wait for input itself (no second read that may wait):
    /// return ``AfterInput/keepOpen`` instead. A handler that throws ends its
    /// connection, which is closed.
    ///
    /// `idleTimeout` (Go's http.Server IdleTimeout) closes a connection that gets no
    /// input for that long, the first input included: it is the read deadline of
    /// each wait, set before it. A read deadline the handler sets itself holds while
    /// the connection is idle in the same way: when it passes, the handler runs and
    /// its read fails with ``NetpollError/deadlineExceeded``.
    ///
    /// When the listener is closed or the task cancelled, handlers still running
    /// are cancelled, every connection is closed, and this returns.
    ///
    /// As with ``serve(_:)``, the handler runs isolated to its connection's loop
    /// (``EventLoop/isolation``), in a task with no executor preference.
    public func serveOnInput(
        retireAfter: Duration = .milliseconds(100),
        idleTimeout: Duration? = nil,
        _ handler: @escaping @Sendable (Connection) async throws -> AfterInput
    ) async throws {
        try await Self.serveInputs(
            self, fd.loop.isolation, sweepEvery: max(retireAfter, .milliseconds(1)),
            idleTimeout: idleTimeout, handler)
    }

    /// serveOnInput's serving task, isolated to the listener's loop.
    private static func serveInputs(
        _ listener: Self, _ isolation: isolated LoopIsolation, sweepEvery: Duration, idleTimeout: Duration?,
        _ handler: @escaping @Sendable (Connection) async throws -> AfterInput
    ) async throws {
        isolation.preconditionIsolated()  // keeps the hop (docs/runtime-tricks.md#precondition-isolated)
        let idle = IdleConnections<Connection>()
        // The turn tasks' parks skip their cancellation handlers: the group is
        // cancelled only below, after `idle` stops (PollDesc+Cover.swift).
        let covered = CoveredWaits()
        try await withThrowingDiscardingTaskGroup { tasks in
            // The body is a @concurrent function type in the standard library: only
            // a closure that captures the isolated parameter stays on the loop
            // (see PollDesc.block).
            _ = isolation  // see docs/runtime-tricks.md#keep-hop
            // Each child isolated to a loop (see runIsolated).
            tasks.addImmediateTask { [isolation] in
                try await runIsolated(to: isolation) {
                    var backoff = AcceptBackoff()
                    do {
                        while let conn = try await listener.accept(backingOff: &backoff) {
                            // A new connection waits for its first input like an idle one.
                            if let idleTimeout { try? conn.setReadDeadline(after: idleTimeout) }
                            if await !idle.park(conn) { try? await conn.close() }
                        }
                    } catch {
                        idle.finish()
                        throw error
                    }
                    idle.finish()
                }
            }
            tasks.addImmediateTask { [isolation] in
                await runIsolated(to: isolation) {
                    // Ends when the group is cancelled, without an error of its own.
                    while (try? await Task.sleep(for: sweepEvery)) != nil {
                        for loop in listener.group.loops { loop.retireIdleReaders() }
                    }
                }
            }
            // One array, swapped with the queue's: a steady state allocates nothing.
            var woken: [Connection] = []
            while await idle.next(into: &woken) {
                for conn in woken {
                    if conn.loop.isolation === isolation {
                        // On this loop: the closure captures the isolated parameter, so
                        // it is isolated to it and the immediate task runs its first
                        // turn on the spot. (A closure isolated by its capture list
                        // alone is not: the task would start with a hop, one more job
                        // per connection — see Listener.serve.)
                        tasks.addImmediateTask {
                            _ = isolation  // see docs/runtime-tricks.md#keep-hop
                            await Self.serveTurns(
                                conn, isolation, idle: idle, covered: covered, idleTimeout: idleTimeout, handler)
                        }
                        continue
                    }
                    // Isolated to the connection's loop, reached with a hop (see runIsolated).
                    tasks.addImmediateTask { [isolation = conn.loop.isolation] in
                        await Self.serveTurns(
                            conn, isolation, idle: idle, covered: covered, idleTimeout: idleTimeout, handler)
                    }
                }
            }
            let left = idle.stop()
            tasks.cancelAll()
            covered.cancel()
            for conn in left.woken {
                conn.fd.readUnlock()
                try? await conn.close()
            }
            // Close wakes each parked reader, which gives the read lock back
            // (IdleConnections.woke), and then finishes.
            for conn in left.parked { try? await conn.close() }
        }
    }

    /// A connection's task: turns while input keeps coming, until it is retired
    /// (then parked without a task) or closed.
    private static func serveTurns(
        _ conn: Connection, _ isolation: isolated LoopIsolation, idle: IdleConnections<Connection>,
        covered: CoveredWaits, idleTimeout: Duration?, _ handler: @Sendable (Connection) async throws -> AfterInput
    ) async {
        isolation.preconditionIsolated()  // keeps the hop (docs/runtime-tricks.md#precondition-isolated)
        // Once: each `conn.fd` is a witness call returning it retained
        // (docs/runtime-tricks.md#fd-once).
        let fd = conn.fd
        // The parked state held the read lock (see FD.parkReaderDormant); the
        // handler's reads take it themselves.
        fd.readUnlock()
        covered.cover(fd)
        do {
            // Cancellation is checked each turn: a turn that never waits (a handler
            // that ignores end of stream) must still let serveOnInput stop.
            while try await handler(conn) == .keepOpen {
                if RuntimeHooks.isCurrentTaskCancelled { throw CancellationError() }
                if let idleTimeout { try conn.setReadDeadline(after: idleTimeout) }
                if try await fd.waitReadable(retiring: true) { continue }
                covered.uncover(fd)
                if await idle.park(conn) { return }
                break
            }
        } catch {}
        covered.uncover(fd)
        try? await conn.close()
    }
}

/// The connections of one ``Listener/serveOnInput(retireAfter:_:)`` that no task
/// serves: parked (waiting for input with no task) and woken (input came; a task
/// is to be started by the serving task, the only one that can add to its group).
/// Every connection is in exactly one place: parked, woken, or owned by a task.
final class IdleConnections<Connection: Conn>: Sendable {
    private struct State {
        var parked: [ObjectIdentifier: Connection] = [:]
        var woken: [Connection] = []
        /// The serving task waiting in `next`, and the loop it resumes on.
        var waiter: ParkedTask?
        var stopped = false
        /// The accept loop ended, or the serving task was cancelled: `next` ends.
        var finishing = false
    }
    private let state = Mutex(State())

    /// Parks `conn` with no task until it has input. False when serving has
    /// stopped (or the connection is closing): the caller closes it.
    func park(_ conn: Connection) async -> Bool {
        // The parked state owns the read lock, so no other reader can wait beside it.
        do { try await conn.fd.readLock() } catch { return false }
        let id = ObjectIdentifier(conn.fd)
        let admitted = state.locked { s in
            if s.stopped { return false }
            s.parked[id] = conn
            return true
        }
        guard admitted else {
            conn.fd.readUnlock()
            return false
        }
        let wake = DormantWake { [self] in woke(conn) }
        // Input already there: as if it had woken it at once.
        if !conn.fd.parkReaderDormant(wake) { wake.run() }
        return true
    }

    /// A parked connection's wake (on the thread that unblocked it).
    private func woke(_ conn: Connection) {
        let id = ObjectIdentifier(conn.fd)
        let (waiter, taken): (ParkedTask?, Bool) = state.locked { s in
            guard s.parked.removeValue(forKey: id) != nil else { return (nil, false) }
            s.woken.append(conn)
            let w = s.waiter
            s.waiter = nil
            return (w, true)
        }
        if !taken {
            // Stopping: `stop` took the connection and is closing it; its Close waits
            // for this read lock. Given back on the loop, not inside an event dispatch.
            conn.loop.execute { conn.fd.readUnlock() }
            return
        }
        waiter?.resume()
    }

    /// Replaces `batch` with the connections woken since the last call (swapping
    /// arrays: no allocation once both have grown). False once stopped or cancelled.
    func next(into batch: inout [Connection], isolation: isolated (any Actor)? = #isolation) async -> Bool {
        batch.removeAll(keepingCapacity: true)
        while true {
            let got: Bool? = state.locked { s in
                if s.stopped || s.finishing { return false }
                if s.woken.isEmpty { return nil }
                swap(&s.woken, &batch)
                return true
            }
            if let got { return got }
            await withTaskCancellationHandler {
                // Captures the isolation, so it stays on the caller's actor (see PollDesc.block).
                let isolation = isolation
                await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                    let waiter = ParkedTask(c, isolation: isolation)
                    let now = state.locked { s in
                        if s.stopped || s.finishing || !s.woken.isEmpty { return true }
                        s.waiter = waiter
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                finish()
            }
        }
    }

    /// Ends `next` (now, or its next call) without stopping: connections still park.
    func finish() {
        let w = state.locked { s in
            s.finishing = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        w?.resume()
    }

    /// Stops serving: no connection is parked from now on. Returns those parked
    /// and those woken but not yet served; the caller closes them.
    @discardableResult
    func stop() -> (parked: [Connection], woken: [Connection]) {
        let (w, parked, woken) = state.locked { s in
            s.stopped = true
            let w = s.waiter
            s.waiter = nil
            let r = (w, Array(s.parked.values), s.woken)
            s.parked.removeAll()
            s.woken.removeAll()
            return r
        }
        w?.resume()
        return (parked, woken)
    }
}
