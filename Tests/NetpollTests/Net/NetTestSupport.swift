import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Net suites (FDMutex, FD loops and the net API): the backends
// every networking test runs over, a per-test loop group wrapped in an async
// descriptor-leak check, a bounded wait that fails instead of hanging, expectations
// on NetpollError, a digest for verified transfers and a few raw-socket helpers.

/// The parent of every Net suite. `.serialized` is inherited by the nested suites and
/// by the cases of parameterized tests, so descriptor counts taken by
/// ``withNoFDLeakAsync(sourceLocation:_:)`` are not disturbed by a sibling test.
@Suite(.serialized) struct NetTests {}

/// Runs `body` with a fresh two-loop group on `config`'s backend (see
/// ``withLoopGroup``): networking tests want accepted and dialled connections
/// spread over more than one loop.
func withNetGroup(
    _ config: PollerConfig, loops: Int = 2, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (LoopGroup) async throws -> Void
) async throws {
    try await withLoopGroup(config, loops: loops, sourceLocation: sourceLocation, body)
}

// MARK: bounded waits

/// What a bounded wait throws when its time is up.
struct NetWaitTimedOut: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what) did not finish within \(limit)" }
}

/// Resumes a continuation exactly once, whichever of the work and the timer comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ c: CheckedContinuation<T, any Error>) { continuation = Mutex(c) }
    @discardableResult
    func resume(_ r: Result<T, any Error>) -> Bool {
        guard let c = continuation.withLock({ c in defer { c = nil }; return c }) else { return false }
        c.resume(with: r)
        return true
    }
}

/// Runs `body` in its own task and waits at most `limit` for it. On time-out it
/// records an issue at the caller's line, cancels the task and throws
/// ``NetWaitTimedOut`` — the test fails instead of hanging, even when the work is stuck
/// somewhere that ignores cancellation.
func netWithin<T: Sendable>(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(c)
        let timer = Task {
            try? await Task.sleep(for: limit)
            if Task.isCancelled { return }
            if once.resume(.failure(NetWaitTimedOut(what: what, limit: limit))) {
                Issue.record("\(what) did not finish within \(limit)", sourceLocation: sourceLocation)
            }
        }
        Task {
            let r: Result<T, any Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            timer.cancel()
            once.resume(r)
        }
    }
}

/// Expects `body` to throw exactly `expected`, within `limit`. Returns how long it took.
@discardableResult
func expectNetError(
    _ expected: NetpollError, within limit: Duration = .seconds(5), _ what: String = "operation",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> Void
) async throws -> Duration {
    let start = ContinuousClock.now
    do {
        try await netWithin(limit, what, sourceLocation: sourceLocation, body)
        Issue.record("\(what) succeeded; expected \(expected)", sourceLocation: sourceLocation)
    } catch let e as NetWaitTimedOut {
        throw e
    } catch let e as NetpollError {
        #expect(e == expected, "\(what): got \(e), expected \(expected)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): got \(type(of: error)) \(error), expected \(expected)", sourceLocation: sourceLocation)
    }
    return ContinuousClock.now - start
}

/// Polls `condition` every few milliseconds until it holds or `limit` passes.
func netEventually(
    _ limit: Duration = .seconds(5), _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("\(what): not true within \(limit)", sourceLocation: sourceLocation)
            throw NetWaitTimedOut(what: what, limit: limit)
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}

// MARK: connections

/// A connected TCP pair on `host` (127.0.0.1 or ::1): (dialled side, accepted side).
/// The listener is closed before returning.
func tcpConnPair(group: LoopGroup, host: String = "127.0.0.1") async throws -> (client: TCPConn, server: TCPConn) {
    let listener = try await TCPListener.listen(host: host, port: 0, group: group)
    do {
        let port = try #require(listener.address?.port)
        async let accepted = listener.accept()
        let client = try await TCPConn.connect(host: host, port: port, timeout: .seconds(5), group: group)
        let server: TCPConn
        do { server = try await accepted } catch {
            try? await client.close()
            throw error
        }
        try await listener.close()
        return (client, server)
    } catch {
        try? await listener.close()
        throw error
    }
}

/// Reads exactly `count` bytes (fails on EOF before that).
func readFully(_ conn: some Conn, count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        let chunk = try await conn.read(maxCount: min(65536, count - out.count))
        if chunk.isEmpty {
            Issue.record("EOF after \(out.count) of \(count) bytes", sourceLocation: sourceLocation)
            break
        }
        out += chunk
    }
    return out
}

/// A deterministic byte pattern: byte `i` of stream `seed`.
@inline(__always)
func patternByte(_ seed: UInt64, _ i: Int) -> UInt8 {
    var x = (UInt64(truncatingIfNeeded: i) &+ seed) &* 0x9E37_79B9_7F4A_7C15
    x ^= x >> 29
    return UInt8(truncatingIfNeeded: x ^ (x >> 8))
}

/// 64-bit FNV-1a, fed incrementally.
struct FNV64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
}

// MARK: raw sockets

/// SO_LINGER {1, 0}: close(2) then sends RST instead of FIN.
func setLingerZero(_ fd: Int32) throws {
    var l = linger(l_onoff: 1, l_linger: 0)
    try check("setsockopt(SO_LINGER)", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size)))
}

/// A unique path under /tmp for a Unix socket.
func uniqueUnixPath(_ tag: String) -> String {
    "/tmp/netpoll-test-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max)).sock"
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

// MARK: shared counters

/// An atomic counter that closures and tasks can capture (a local `Atomic` cannot be).
final class NetCounter: Sendable {
    private let storage = Atomic<Int>(0)
    init() {}
    @discardableResult
    func add(_ n: Int = 1) -> Int { storage.add(n, ordering: .acquiringAndReleasing).newValue }
    @discardableResult
    func subtract(_ n: Int = 1) -> Int { storage.subtract(n, ordering: .acquiringAndReleasing).newValue }
    var value: Int { storage.load(ordering: .acquiring) }
}

/// An atomic flag that closures and tasks can capture.
final class NetFlag: Sendable {
    private let storage = Atomic<Bool>(false)
    init() {}
    func set() { storage.store(true, ordering: .releasing) }
    var isSet: Bool { storage.load(ordering: .acquiring) }
}
