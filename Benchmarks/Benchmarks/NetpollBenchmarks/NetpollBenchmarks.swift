// Micro-benchmarks of Netpoll (issue 5), for every backend in one run:
//
//   park-resume   two tasks on ONE loop hand a byte to each other over two pipes;
//                 one iteration = one handoff = one park + one resume (a round trip
//                 is two handoffs).
//   ping-pong     a round trip between TWO loops: the benchmark task on loop 0
//                 writes a byte into pipe P and reads it back from pipe Q; an echo
//                 task on loop 1 reads P and writes Q. One iteration = one round trip.
//   ping-pong tcp a round trip of 64 bytes over a loopback TCP connection between
//                 TWO loops (Net API: the client writes and reads; the server side
//                 echoes with readBorrowed + write). The path io_uring completion
//                 mode changes (reads through the ring), so its 0-malloc target is
//                 measured here. One iteration = one round trip.
//   register      register + deregister of one pipe fd on a raw poller (io_uring:
//                 deregister waits for the cancel's completion, so that wait is
//                 measured).
//   poll-empty    poll(timeout: .zero) with nothing ready on a raw poller.
//                 Each sample of the raw-poller benchmarks creates, uses and closes
//                 its poller on a thread of its own (OwnThread.swift says why).
//
// Loop benchmarks measure only the steady state: the closure hops onto the loop,
// does one round trip, then brackets the iterations with start/stopMeasurement,
// and warm-up samples are discarded. A sample is 1000 ops (scalingFactor .kilo):
// the tables show time, mallocCountTotal and the custom counters per op, rounded
// DOWN to an integer, so a rare malloc (< 1 per 1000 ops) shows as 0 there; run
// `scripts/bench-micro --scale` for per-sample totals, and `--allocation-stacks`
// to see where allocations come from.
//
// Custom counters: pollerSyscalls (raw pollers: the poller's own kernel entries —
// epoll_wait, epoll_ctl / io_uring_enter), loopPollSyscalls and parks (summed
// over the group's loops, from LoopStats).
//
// `.instructions` is left out: perf events are not available here
// (`perf stat -e instructions true` says <not supported>).

import Benchmark
import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// MARK: configuration

private var scale: BenchmarkScalingFactor { .kilo }

private var pollerSyscalls: BenchmarkMetric { BenchmarkMetric.custom("pollerSyscalls", polarity: .prefersSmaller, useScalingFactor: true) }
private var loopPollSyscalls: BenchmarkMetric { BenchmarkMetric.custom("loopPollSyscalls", polarity: .prefersSmaller, useScalingFactor: true) }
private var parks: BenchmarkMetric { BenchmarkMetric.custom("parks", polarity: .prefersSmaller, useScalingFactor: true) }

/// How much a benchmark's numbers move from run to run on this VM, for its tolerances.
private enum Spread {
    /// One thread or one loop: the same counts every operation, time within ±15%.
    case narrow
    /// Two loops handing a message back and forth. A side parks (and its loop polls)
    /// only if the answer has not arrived yet, so a round trip costs one to two of
    /// each: 1269 to 2000 per 1000 round trips between runs. And a sample's time
    /// is in one of two modes, whichever the other loop's wake-up takes: the pipe
    /// ping-pong 7 or 50 µs per round trip, the TCP one 15 or 55 µs, in the same
    /// run (the guest's idle path, cpuidle haltpoll here, is the likely cause).
    case twoLoops
}

/// Tolerances for `scripts/bench-micro --check` against the committed p90 values in
/// Benchmarks/Thresholds (counts are per sample of 1000 operations). `--check` fails
/// on a deviation beyond these either way, worse or better.
/// - mallocs: +-5 per 1000 operations, so one more malloc per operation (+1000) fails.
/// - `.narrow`: time and throughput 35% (only a real regression trips it); the
///   counted syscalls and parks 1% (a sample's edges move them by one).
/// - `.twoLoops`: syscalls and parks +-800 (the spread above; one more per round
///   trip, +1000, still fails); time and throughput 700%, which lets a run land in
///   either time mode and so catches only gross regressions (a lost wake-up that
///   waits for a timer) — the mallocs and counters are these benchmarks' gate.
private func tolerances(_ extra: [BenchmarkMetric], _ spread: Spread) -> [BenchmarkMetric: BenchmarkThresholds] {
    let time: BenchmarkThresholds = .init(relative: [.p90: spread == .narrow ? 35.0 : 700.0])
    var t: [BenchmarkMetric: BenchmarkThresholds] = [
        .wallClock: time,
        .throughput: time,
        .mallocCountTotal: .init(absolute: [.p90: 5]),
    ]
    for metric in extra {
        switch spread {
        case .narrow: t[metric] = .init(relative: [.p90: 1.0])
        case .twoLoops: t[metric] = .init(absolute: [.p90: 800])
        }
    }
    return t
}

private func config(_ extra: [BenchmarkMetric], _ spread: Spread = .narrow) -> Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal] + extra,
        warmupIterations: 5,
        scalingFactor: scale,
        maxDuration: .seconds(1),
        maxIterations: 100_000,
        thresholds: tolerances(extra, spread)
    )
}

private struct BackendCase {
    let name: String
    let backend: Backend
}

private let allBackends: [BackendCase] = [
    BackendCase(name: "epoll", backend: .epoll),
    BackendCase(name: "uring-multishot", backend: .uring(URingPoller.Options(mode: .multishot))),
    BackendCase(name: "uring-oneshot", backend: .uring(URingPoller.Options(mode: .oneshot))),
    BackendCase(name: "uring-completion", backend: .uring(URingPoller.Options(mode: .completion))),
]

// MARK: helpers

/// A non-blocking, close-on-exec pipe (Glibc does not export pipe2 to Swift).
private func makePipe() -> (r: Int32, w: Int32) {
    var fds: [Int32] = [-1, -1]
    precondition(pipe(&fds) == 0, "pipe: errno \(errno)")
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}

private func fail(_ benchmark: Benchmark, _ what: String, _ error: any Error) -> Never {
    fatalError("\(benchmark.name): \(what): \(error)")
}

// MARK: raw poller benchmarks (one thread per sample creates, uses and closes the poller)

/// register + deregister of the read end of an empty pipe.
private func registerDeregister(_ benchmark: Benchmark, _ make: () throws(NetpollError) -> any Poller) {
    let poller: any Poller
    do { poller = try make() } catch { fail(benchmark, "poller", error) }
    defer { poller.close() }
    let (r, w) = makePipe()
    defer { Glibc.close(r); Glibc.close(w) }
    let token = PollToken(1 << 32)
    do {
        // One warm-up cycle outside the measurement (first SQEs, hash table growth).
        try poller.register(fd: r, token: token)
        try poller.deregister(fd: r, token: token)
        let before = poller.counters.syscalls
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try poller.register(fd: r, token: token)
            try poller.deregister(fd: r, token: token)
        }
        benchmark.stopMeasurement()
        benchmark.measurement(pollerSyscalls, Int(poller.counters.syscalls - before))
    } catch {
        fail(benchmark, "register/deregister", error)
    }
}

/// poll(timeout: .zero) with one idle descriptor registered and nothing ready.
private func pollEmpty(_ benchmark: Benchmark, _ make: () throws(NetpollError) -> any Poller) {
    let poller: any Poller
    do { poller = try make() } catch { fail(benchmark, "poller", error) }
    defer { poller.close() }
    let (r, w) = makePipe()
    defer { Glibc.close(r); Glibc.close(w) }
    let token = PollToken(1 << 32)
    var seen = 0
    do {
        try poller.register(fd: r, token: token)
        // Submit what registration queued and drain anything initial.
        for _ in 0..<3 { _ = try poller.poll(timeout: .zero) { _, _ in seen &+= 1 } }
        let before = poller.counters.syscalls
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let n = try poller.poll(timeout: .zero) { _, _ in seen &+= 1 }
            blackHole(n)
        }
        benchmark.stopMeasurement()
        benchmark.measurement(pollerSyscalls, Int(poller.counters.syscalls - before))
        try poller.deregister(fd: r, token: token)
    } catch {
        fail(benchmark, "poll", error)
    }
    blackHole(seen)
}

private func rawBenchmarks(_ c: BackendCase) {
    let cfg = config([pollerSyscalls])
    let backend = c.backend
    // Each sample's poller lives on a thread of its own (see OwnThread.swift).
    Benchmark("register+deregister [\(c.name)]", configuration: cfg) { b in
        onOwnThread { registerDeregister(b) { () throws(NetpollError) in try backend.makePoller() } }
    }
    Benchmark("poll(.zero) empty [\(c.name)]", configuration: cfg) { b in
        onOwnThread { pollEmpty(b) { () throws(NetpollError) in try backend.makePoller() } }
    }
}

// MARK: event-loop benchmarks

/// Two pipes between side A (the benchmark task) and side B (an echo task).
/// A writes P and reads Q; B reads P and writes Q until EOF.
private final class PingPong: @unchecked Sendable {
    let group: LoopGroup
    let loopA: EventLoop
    let aWrite: FD  // P's write end, on loop A
    let aRead: FD  // Q's read end, on loop A
    let echo: Task<Void, any Error>
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)

    init(backend: Backend, loops: Int) async throws {
        group = try LoopGroup(loops: loops, backend: backend)
        loopA = group.loops[0]
        let loopB = group.loops[loops - 1]
        let p = makePipe(), q = makePipe()
        aWrite = try await FD.open(p.w, loop: loopA, isSocket: false)
        aRead = try await FD.open(q.r, loop: loopA, isSocket: false)
        let bRead = try await FD.open(p.r, loop: loopB, isSocket: false)
        let bWrite = try await FD.open(q.w, loop: loopB, isSocket: false)
        buf.initializeMemory(as: UInt8.self, repeating: 1)
        echo = Task(executorPreference: loopB) {
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
            defer { b.deallocate() }
            while true {
                let n = try await bRead.read(into: b)
                if n == 0 { break }
                try await bWrite.write(UnsafeRawBufferPointer(rebasing: b[0..<n]))
            }
            try await bRead.close()
            try await bWrite.close()
        }
    }

    /// One round trip of one byte (side A; must run on loop A).
    @inline(__always)
    func roundTrip() async throws {
        try await aWrite.write(UnsafeRawBufferPointer(rebasing: buf[0..<1]))
        var got = 0
        while got < 1 {
            let n = try await aRead.read(into: buf)
            if n == 0 { throw NetpollError.system("read (echo ended)", EPIPE) }
            got += n
        }
    }

    func shutdown() async throws {
        try await aWrite.close()  // EOF for the echo task, which closes its ends
        try await echo.value
        try await aRead.close()
        group.shutdown()
        buf.deallocate()
    }
}

/// A loopback TCP connection: the client side is the benchmark's, the accepted side
/// echoes (readBorrowed + write) until EOF.
private final class TCPPingPong: @unchecked Sendable {
    let group: LoopGroup
    let client: TCPConn
    let echo: Task<Void, any Error>
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
    var loopA: EventLoop { client.fd.loop }

    init(backend: Backend) async throws {
        group = try LoopGroup(loops: 2, backend: backend)
        let listener = try await TCPListener.listen(host: "127.0.0.1", port: 0, group: group)
        guard let port = listener.address?.port else { throw NetpollError.system("listener address", EINVAL) }
        async let accepted = listener.accept()
        client = try await TCPConn.connect(host: "127.0.0.1", port: port, group: group)
        let server = try await accepted
        try await listener.close()
        buf.initializeMemory(as: UInt8.self, repeating: 1)
        echo = Task(executorPreference: server.fd.loop) {
            while true {
                let done = try await server.readBorrowed { bytes -> Bool in
                    if bytes.isEmpty { return true }
                    try await server.write(bytes)
                    return false
                }
                if done { break }
            }
            try await server.close()
        }
    }

    /// One round trip of 64 bytes (must run on the client's loop).
    @inline(__always)
    func roundTrip() async throws {
        try await client.write(UnsafeRawBufferPointer(buf))
        var got = 0
        while got < buf.count {
            let n = try await client.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[got...]))
            if n == 0 { throw NetpollError.system("read (echo ended)", EPIPE) }
            got += n
        }
    }

    func shutdown() async throws {
        try await client.close()  // EOF for the echo task, which closes its side
        try await echo.value
        group.shutdown()
        buf.deallocate()
    }
}

/// What a loop benchmark drives: a group, the loop its side runs on, one round
/// trip, and tear-down. (The pipe pair and the TCP connection.)
private protocol RoundTripper: AnyObject, Sendable {
    var group: LoopGroup { get }
    var loopA: EventLoop { get }
    func roundTrip() async throws
    func shutdown() async throws
}

extension PingPong: RoundTripper {}
extension TCPPingPong: RoundTripper {}

private final class Slot<P: RoundTripper>: @unchecked Sendable {
    var value: P?
}

/// One loop benchmark over `make`'s round tripper. `half`: park-resume counts
/// handoffs (two per round trip); the ping-pongs count round trips.
private func loopBenchmark<P: RoundTripper>(
    _ name: String, roundTripsPerIteration half: Bool = false, spread: Spread,
    _ make: @escaping @Sendable () async throws -> P
) {
    let slot = Slot<P>()
    Benchmark(
        name,
        configuration: config([loopPollSyscalls, parks], spread),
        closure: { benchmark in
            guard let pp = slot.value else { fatalError("\(name): no setup") }
            do {
                try await withTaskExecutorPreference(pp.loopA) {
                    try await pp.roundTrip()  // steady state before measuring
                    let rounds = half ? benchmark.scaledIterations.count / 2 : benchmark.scaledIterations.count
                    let before = pp.group.statistics
                    benchmark.startMeasurement()
                    for _ in 0..<rounds { try await pp.roundTrip() }
                    benchmark.stopMeasurement()
                    let after = pp.group.statistics
                    benchmark.measurement(loopPollSyscalls, Int(after.pollSyscalls - before.pollSyscalls))
                    benchmark.measurement(parks, Int(after.parks - before.parks))
                }
            } catch {
                fail(benchmark, "round trip", error)
            }
        },
        setup: { slot.value = try await make() },
        teardown: {
            try await slot.value?.shutdown()
            slot.value = nil
        }
    )
}

// MARK: registration

let benchmarks: @Sendable () -> Void = {
    for c in allBackends {
        if case .unusable(let reason) = Backend.probe(c.backend) {
            print("NetpollBenchmarks: skipping \(c.name): \(reason)")
            continue
        }
        let backend = c.backend
        loopBenchmark("park-resume 1 loop [\(c.name)]", roundTripsPerIteration: true, spread: .narrow) {
            try await PingPong(backend: backend, loops: 1)
        }
        loopBenchmark("ping-pong 2 loops [\(c.name)]", spread: .twoLoops) {
            try await PingPong(backend: backend, loops: 2)
        }
        loopBenchmark("ping-pong tcp 2 loops [\(c.name)]", spread: .twoLoops) {
            try await TCPPingPong(backend: backend)
        }
        rawBenchmarks(c)
    }
}
