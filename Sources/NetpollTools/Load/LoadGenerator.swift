import Foundation
import Glibc

/// Runs one load: probe the target, open idle connections, start the worker
/// threads, hold the clock marks, and merge what the workers counted.
///
/// Timeline (monotonic): connect phase (not timed) → start → warmup (traffic,
/// nothing recorded) → measureStart → measured window → end. Every wait has a
/// deadline, so a stalled server ends the run on time with errors counted.
public enum LoadGenerator {
    /// - Parameter onIdleReady: called once the idle connections are open (before
    ///   the timed run), with how many are; the bench samples server memory then.
    public static func run(_ options: LoadOptions, onIdleReady: (Int) -> Void = { _ in }) throws(LoadError) -> LoadReport {
        try options.validate()
        raiseDescriptorLimit()
        let endpoint = try Endpoint(parsing: options.target)
        let connectTimeout = nanos(seconds: options.connectTimeoutSeconds)

        // One clear error for an unreachable target, instead of a run of failures.
        let probe = SocketOps.probe(endpoint, timeoutNanos: connectTimeout)
        if probe != 0 {
            throw .cannotConnect("cannot connect to \(endpoint): \(errnoText(probe))")
        }

        var idle: IdleConnections?
        if options.idleConnections > 0 {
            let holder = IdleConnections(endpoint: endpoint)
            holder.open(count: options.idleConnections, firstIndex: options.connections, timeoutNanos: connectTimeout)
            idle = holder
            onIdleReady(holder.descriptors.count)
        }

        let threadCount = max(1, min(options.threads, options.connections))
        var workers: [LoadWorker] = []
        if options.connections > 0 {
            var first = 0
            for worker in 0..<threadCount {
                let share = options.connections / threadCount + (worker < options.connections % threadCount ? 1 : 0)
                workers.append(try LoadWorker(
                    options: options, endpoint: endpoint, connections: share,
                    firstIndex: first, totalConnections: options.connections))
                first += share
            }
        }

        let phases = PhaseGate()
        for worker in workers {
            let thread = Thread {
                worker.connectAll()
                phases.ready.signal()
                phases.go.wait()
                worker.run(window: phases.window)
                phases.done.signal()
            }
            thread.name = "netpoll-load"
            thread.start()
        }
        for _ in workers { phases.ready.wait() }

        // Clock marks, published to the workers by the `go` semaphore.
        let start = monotonicNanos()
        let measureStart = start + nanos(seconds: options.warmupSeconds)
        let end = measureStart + nanos(seconds: options.durationSeconds)
        phases.window = RunWindow(start: start, measureStart: measureStart, end: end)
        for _ in workers { phases.go.signal() }

        sleep(untilNanos: measureStart)
        let cpuBefore = processCPUMicros()
        let wallBefore = monotonicNanos()
        sleep(untilNanos: end)
        let cpuAfter = processCPUMicros()
        let wallAfter = monotonicNanos()
        for _ in workers { phases.done.wait() }

        var counters = LoadCounters()
        var latencies = LatencyRecorder()
        for worker in workers {
            counters.add(worker.counters)
            latencies.merge(worker.latencies)
        }
        if let idle {
            idle.verifyStillOpen()
            counters.add(idle.counters)
        }

        if options.connections > 0 && options.mode == .echo && counters.connected - (idle?.descriptors.count ?? 0) == 0 {
            throw .cannotConnect(counters.firstError ?? "cannot connect to \(endpoint)")
        }

        let wallMicros = Double(wallAfter - wallBefore) / 1000
        let cpuPercent = wallMicros > 0 ? Double(cpuAfter - cpuBefore) / wallMicros * 100 : 0
        return LoadReport(
            options: options, threads: workers.count, counters: counters, latencies: latencies,
            idleOpen: idle?.descriptors.count ?? 0, clientCPUPercent: cpuPercent)
    }
}

/// Semaphores that line the worker threads up: all connected → go → all done.
/// `window` is written before `go` is signalled and read after it is waited on.
private final class PhaseGate: @unchecked Sendable {
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    var window = RunWindow(start: 0, measureStart: 0, end: 0)
}
