import CNetpoll
import Synchronization
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Runtime suites: waiting for a quiet loop, PollDesc
// inspection, byte-level FD helpers, and reading results. (Bounded waits, shared
// flags and counters, descriptors and the leak check are in Support/.)

// MARK: waits

/// Waits until the loop has delivered no new event for `quiet` (for at most `limit`).
func waitForQuietLoop(_ loop: EventLoop, quiet: Duration = .milliseconds(50), within limit: Duration = .seconds(2)) async {
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

// MARK: PollDesc inspection

extension PollDesc {
    var readState: UInt8 { rg.load(ordering: .acquiring) }
    var writeState: UInt8 { wg.load(ordering: .acquiring) }
    var readParked: Bool { readState == PollDesc.pdParked }
    var writeParked: Bool { writeState == PollDesc.pdParked }
}

/// Closes a PollDesc opened with `loop.open(fd:)` the way the FD layer does: evict,
/// then deregister, close and free the slot on the loop thread. These tests own
/// their descriptors and close them themselves afterwards, so the number is put
/// back (from a duplicate) once the loop has closed it.
func closeRaw(_ pd: PollDesc, on loop: EventLoop) async throws {
    let fd = pd.fd
    let keep = dup(fd)
    pd.evict()
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        loop.close(pd) { c.resume() }
    }
    if keep >= 0 {
        dup2(keep, fd)
        close(keep)
    }
}

// MARK: FD

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

/// Two pipes for a ping-pong between two loops: the pinging side (`p1w`, `p2r`) on
/// `loop0`, the answering side (`p1r`, `p2w`) on `loop1`.
struct PingPongPipes {
    let p1w: FD, p2r: FD, p1r: FD, p2w: FD

    static func open(_ loop0: EventLoop, _ loop1: EventLoop) async throws -> PingPongPipes {
        let p1 = try makePipe(), p2 = try makePipe()
        return PingPongPipes(
            p1w: try await FD.open(p1.w, loop: loop0, isSocket: false),
            p2r: try await FD.open(p2.r, loop: loop0, isSocket: false),
            p1r: try await FD.open(p1.r, loop: loop1, isSocket: false),
            p2w: try await FD.open(p2.w, loop: loop1, isSocket: false))
    }

    /// The pinging side, a task preferring `loop`: sends round i's byte and reads it
    /// back, `rounds` times. Returns `rounds`.
    func ping(rounds: Int, on loop: EventLoop) -> Task<Int, any Error> {
        Task(executorPreference: loop) { [self] () async throws -> Int in
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
            defer { buf.deallocate() }
            for i in 0..<rounds {
                buf[0] = UInt8(truncatingIfNeeded: i)
                try await p1w.write(UnsafeRawBufferPointer(buf))
                let n = try await p2r.read(into: buf)
                guard n == 1, buf[0] == UInt8(truncatingIfNeeded: i) else {
                    throw SystemCallFailed(call: "ping round \(i): read \(n) byte(s)", errno: 0)
                }
            }
            return rounds
        }
    }

    func close() async throws {
        for fd in [p1w, p2r, p1r, p2w] { try await fd.close() }
    }
}
