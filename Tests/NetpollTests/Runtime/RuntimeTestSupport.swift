import CNetpoll
import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Runtime suites: the backends every test runs over, a loop
// group wrapped in a descriptor-leak check, bounded waits that fail instead of
// hanging, pipes/socketpairs, and byte-level FD helpers.

/// The parent of every Runtime suite. `.serialized` is inherited by the nested suites
/// and by the cases of parameterized tests, so the descriptor counts taken by
/// ``withNoFDLeakAsync(sourceLocation:_:)`` are not disturbed by a sibling test.
@Suite(.serialized) struct RuntimeTests {}

// MARK: bounded waits

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what): not done within \(limit)" }
}

/// Races `op` against a timer without structured concurrency, so an operation that
/// ignores cancellation can never hang the test. Nil on timeout (the operation's
/// task is cancelled and abandoned).
func race<T: Sendable>(_ limit: Duration, _ op: @escaping @Sendable () async -> T) async -> T? {
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

/// Runs `op`, failing the test (at the caller's line) and throwing ``TimedOut`` if it
/// does not finish within `limit`.
func within<T: Sendable>(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ op: @escaping @Sendable () async throws -> T
) async throws -> T {
    let r: Result<T, any Error>? = await race(limit) {
        do { return .success(try await op()) } catch { return .failure(error) }
    }
    guard let r else {
        Issue.record("\(what): not done within \(limit)", sourceLocation: sourceLocation)
        throw TimedOut(what: what, limit: limit)
    }
    return try r.get()
}

/// How `task` ended, waiting at most `limit` (then the task is cancelled, an issue is
/// recorded and the result is a ``TimedOut`` failure).
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

/// Polls `condition` every millisecond until it holds; records an issue at the
/// caller's line and returns false if it does not within `limit`.
@discardableResult
func waitUntil(
    _ what: String, within limit: Duration = .seconds(2), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now >= end {
            Issue.record("\(what): not true within \(limit)", sourceLocation: sourceLocation)
            return false
        }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

/// Waits until the loop has delivered no new event for `quiet` (bounded by `limit`).
func waitForQuietLoop(_ loop: EventLoop, quiet: Duration = .milliseconds(50), limit: Duration = .seconds(2)) async {
    let clock = ContinuousClock()
    let end = clock.now + limit
    var last = loop.statistics.events
    var since = clock.now
    while clock.now < end {
        try? await Task.sleep(for: .milliseconds(5))
        let now = loop.statistics.events
        if now != last {
            last = now
            since = clock.now
        } else if clock.now - since >= quiet {
            return
        }
    }
}

/// A flag set once by one task and read by another.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A counter shared by tasks.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ n: Int = 1) { value.wrappingAdd(n, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

// MARK: PollDesc inspection

extension PollDesc {
    var readState: UInt8 { rg.load(ordering: .acquiring) }
    var writeState: UInt8 { wg.load(ordering: .acquiring) }
    var readParked: Bool { readState == PollDesc.pdParked }
    var writeParked: Bool { writeState == PollDesc.pdParked }
}

/// Closes a PollDesc opened with `loop.open(fd:)` the way the FD layer does: evict,
/// then deregister and free the slot on the loop thread.
func closeRaw(_ pd: PollDesc, on loop: EventLoop) async throws {
    pd.evict()
    try await loop.submit { loop.closeLocal(pd) }
}

// MARK: descriptors

/// A non-blocking, close-on-exec pipe (Glibc does not export pipe2 to Swift).
func makePipe() throws -> (r: Int32, w: Int32) {
    var fds: [Int32] = [-1, -1]
    try check("pipe", pipe(&fds))
    for fd in fds {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}

/// A non-blocking, close-on-exec AF_UNIX stream socketpair.
func makeSocketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    try check("socketpair", socketpair(AF_UNIX, type, 0, &fds))
    return (fds[0], fds[1])
}

/// Reads whatever is there (nonblocking) from a raw descriptor.
func readRaw(_ fd: Int32, max: Int = 4096) -> [UInt8] {
    var buf = [UInt8](repeating: 0, count: max)
    let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    return n > 0 ? Array(buf[0..<n]) : []
}

extension FD {
    /// One `read` of up to `max` bytes.
    func readSome(max: Int = 4096) async throws -> [UInt8] {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max, alignment: 1)
        defer { buf.deallocate() }
        let n = try await read(into: buf)
        return Array(buf[0..<n])
    }

    /// One `write` of all of `bytes`.
    func writeAll(_ bytes: [UInt8]) async throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { buf.deallocate() }
        buf.copyBytes(from: bytes)
        try await write(UnsafeRawBufferPointer(rebasing: buf[0..<bytes.count]))
    }
}

/// The `NetpollError` in a failed result, if that is what it holds.
func netpollError<T>(_ r: Result<T, any Error>) -> NetpollError? {
    if case .failure(let e) = r { return e as? NetpollError }
    return nil
}

func isCancellation<T>(_ r: Result<T, any Error>) -> Bool {
    if case .failure(let e) = r { return e is CancellationError }
    return false
}

// MARK: randomness


/// Two decimals, without Foundation.
func fmt2(_ x: Double) -> String {
    let v = (x * 100).rounded() / 100
    let whole = Int(v)
    let frac = Int(((v - Double(whole)) * 100).rounded())
    return "\(whole).\(frac < 10 ? "0" : "")\(frac)"
}

extension Duration {
    var milliseconds: Double {
        let (s, a) = components
        return Double(s) * 1000 + Double(a) / 1e15
    }
}
