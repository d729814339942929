import Testing

// Bounded waits: every wait in a test has a limit, and running out of time records an
// issue at the caller's line instead of hanging the run. One style throughout, here
// and in every other helper that takes a bound (expectNetError, expectEvents,
// NetpollProcess, waitForQuietLoop): the limit is written `within` — the function's
// name or the `within:` label — and comes before the description of what is awaited.
//
//     try await within(.seconds(5), "close") { try await fd.close() }
//     try await waitUntil(within: .seconds(2), "reader parked") { fd.pd.readParked }
//     let r = await outcome(of: reader, within: .seconds(5), "blocked read")

/// What a bounded wait throws when its time is up (after recording an issue).
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what): not done within \(limit)" }
}

/// Races `op` against a timer without structured concurrency, so an operation that
/// ignores cancellation can never hang the test. Nil on timeout (the operation's
/// task is cancelled and abandoned).
private func race<T: Sendable>(_ limit: Duration, _ op: @escaping @Sendable () async -> T) async -> T? {
    let (stream, cont) = AsyncStream<T?>.makeStream()
    let worker = Task { cont.yield(await op()) }
    let timer = Task {
        try? await Task.sleep(for: limit)
        cont.yield(nil)
    }
    var it = stream.makeAsyncIterator()
    let first = await it.next()
    cont.finish()
    timer.cancel()
    if case .some(.some(let value)) = first { return value }
    worker.cancel()
    return nil
}

/// Runs `body` in a task of its own and waits at most `limit` for it: its result or
/// error, or, on time-out, an issue at the caller's line and ``TimedOut`` — even when
/// the work is stuck somewhere that ignores cancellation.
func within<T: Sendable>(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let r: Result<T, any Error>? = await race(limit) {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
    guard let r else {
        Issue.record("\(what): not done within \(limit)", sourceLocation: sourceLocation)
        throw TimedOut(what: what, limit: limit)
    }
    return try r.get()
}

/// How `task` ended, waiting at most `limit` (then the task is cancelled, an issue is
/// recorded at the caller's line and the result is a ``TimedOut`` failure).
func outcome<T: Sendable>(
    of task: Task<T, any Error>, within limit: Duration = .seconds(5), _ what: String = "task",
    sourceLocation: SourceLocation = #_sourceLocation
) async -> Result<T, any Error> {
    let r: Result<T, any Error>? = await race(limit) {
        do { return .success(try await task.value) } catch { return .failure(error) }
    }
    guard let r else {
        task.cancel()
        Issue.record("\(what): not done within \(limit)", sourceLocation: sourceLocation)
        return .failure(TimedOut(what: what, limit: limit))
    }
    return r
}

/// Polls `condition` every millisecond until it holds; if it does not within `limit`,
/// records an issue at the caller's line and throws ``TimedOut``.
func waitUntil(
    within limit: Duration = .seconds(5), _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now >= end {
            Issue.record("\(what): not true within \(limit)", sourceLocation: sourceLocation)
            throw TimedOut(what: what, limit: limit)
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}
