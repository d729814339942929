#if Metrics
import CoreMetrics
import Netpoll
import Synchronization

/// Exports each loop's ``LoopStats`` through swift-metrics: whatever backend the
/// program bootstrapped (`MetricsSystem.bootstrap`, or a `factory` passed here)
/// receives them.
///
/// Every counter of ``LoopStats/namedCounters`` becomes a swift-metrics `Counter`
/// named `<prefix>_<name>` (`netpoll_bytes_read`, `netpoll_parks`, …), incremented by
/// what the loop counted since the previous ``update()``; the five `errors_*`
/// counters are one `<prefix>_errors` with a `kind` dimension (timeout, closed,
/// reset, cancelled, other); `descriptors_open` and `ring_buffers_held` are `Gauge`s. Each metric carries
/// the dimensions `loop` (the loop's index) and `backend` (`epoll`, `uring`), plus
/// those given to `init`. The derived totals `poll_calls` and `syscalls` are left
/// out: a backend sums their parts.
///
/// Pull (call ``update()`` when your backend scrapes) or push (``run(every:)`` in a
/// task of its own, or as a service):
///
/// ```swift
/// let reporter = NetpollMetricsReporter(group: group)
/// Task { try await reporter.run(every: .seconds(10)) }
/// ```
public final class NetpollMetricsReporter: Sendable {
    public let group: LoopGroup
    private let loops: [LoopMetrics]
    /// The snapshot each loop's metrics were last brought up to; the lock also makes
    /// concurrent `update` calls record each increment once.
    private let last: Mutex<[LoopStats]>

    /// - Parameters:
    ///   - prefix: The start of every metric's label.
    ///   - dimensions: Added to every metric (for example the service's name).
    ///   - factory: The metrics backend; by default the one bootstrapped in `MetricsSystem`.
    public init(
        group: LoopGroup, prefix: String = "netpoll", dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.group = group
        self.loops = group.loops.map {
            LoopMetrics(
                prefix: prefix,
                dimensions: [("loop", "\($0.index)"), ("backend", group.backend.kind.rawValue)] + dimensions,
                factory: factory)
        }
        self.last = Mutex(group.loops.map { _ in LoopStats() })
    }

    /// Records what every loop counted since the last call (the first call: since
    /// the loop started) and the current open-descriptor gauge.
    public func update() {
        last.withLock { last in
            for (i, loop) in group.loops.enumerated() {
                let now = loop.statistics
                loops[i].record(now, since: last[i])
                last[i] = now
            }
        }
    }

    /// Calls ``update()`` every `interval` until the task is cancelled, then once
    /// more, so the final counts are not lost. Returns normally on cancellation.
    public func run(every interval: Duration = .seconds(10)) async {
        while !Task.isCancelled {
            update()
            do { try await Task.sleep(for: interval) } catch { break }
        }
        update()
    }
}

/// The metrics of one loop, created once (swift-metrics handlers are meant to be
/// kept, not made per update).
private struct LoopMetrics: Sendable {
    let counters: [(name: String, counter: Counter)]
    let errors: [(kind: LoopStats.ErrorKind, counter: Counter)]
    let descriptorsOpen: Gauge
    /// io_uring completion mode: ring buffers held by readers now.
    let ringBuffersHeld: Gauge

    static let errorPrefix = "errors_"
    /// Derived from others (`poll_calls`, `syscalls`) or a level rather than a count.
    static let notCounters: Set<String> = ["poll_calls", "syscalls", "descriptors_open", "ring_buffers_held"]

    init(prefix: String, dimensions: [(String, String)], factory: any MetricsFactory) {
        counters = LoopStats().namedCounters
            .map(\.name)
            .filter { !Self.notCounters.contains($0) && !$0.hasPrefix(Self.errorPrefix) }
            .map { ($0, Counter(label: "\(prefix)_\($0)", dimensions: dimensions, factory: factory)) }
        errors = LoopStats.ErrorKind.allCases.map {
            ($0, Counter(label: "\(prefix)_errors", dimensions: dimensions + [("kind", $0.rawValue)], factory: factory))
        }
        descriptorsOpen = Gauge(label: "\(prefix)_descriptors_open", dimensions: dimensions, factory: factory)
        ringBuffersHeld = Gauge(label: "\(prefix)_ring_buffers_held", dimensions: dimensions, factory: factory)
    }

    func record(_ now: LoopStats, since before: LoopStats) {
        let old = Dictionary(uniqueKeysWithValues: before.namedCounters.map { ($0.name, $0.value) })
        let new = Dictionary(uniqueKeysWithValues: now.namedCounters.map { ($0.name, $0.value) })
        for (name, counter) in counters {
            let delta = (new[name] ?? 0) &- (old[name] ?? 0)
            if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
        }
        for (kind, counter) in errors {
            let delta = now.errors(kind) &- before.errors(kind)
            if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
        }
        descriptorsOpen.record(Int64(clamping: now.descriptorsOpen))
        ringBuffersHeld.record(Int64(clamping: now.ringBuffersHeld))
    }
}
#endif
