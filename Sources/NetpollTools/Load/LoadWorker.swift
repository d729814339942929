import CLoadSys
import Glibc

/// Counters one worker accumulates; summed across workers at the end.
public struct LoadCounters: Sendable {
    /// Every echo completed, warmup included (servers' totals are divided by it).
    public var requestsTotal: UInt64 = 0
    /// Echoes completed inside the measured window.
    public var requestsMeasured: UInt64 = 0
    public var bytesVerified: UInt64 = 0
    public var connected = 0
    public var errors = [UInt64](repeating: 0, count: LoadFailure.allCases.count)
    public var firstError: String?

    mutating func add(_ other: LoadCounters) {
        requestsTotal += other.requestsTotal
        requestsMeasured += other.requestsMeasured
        bytesVerified += other.bytesVerified
        connected += other.connected
        for index in errors.indices { errors[index] += other.errors[index] }
        if firstError == nil { firstError = other.firstError }
    }

    public var errorTotal: UInt64 { errors.reduce(0, +) }
}

/// The run's clock marks (monotonic ns), identical for every worker.
struct RunWindow: Sendable {
    var start: UInt64
    var measureStart: UInt64
    var end: UInt64
}

/// A worker's mutable run state (see `LoadWorker.state`).
struct RunState {
    var counters = LoadCounters()
    var latencies = LatencyRecorder()
    var window = RunWindow(start: 0, measureStart: 0, end: 0)
    /// Open loop: ns between scheduled sends of this worker, and the next schedule index.
    var interval: UInt64 = 0
    var nextScheduled: UInt64 = 0
    var backoffSlots = 0
    var usePwait2 = true
}

/// One thread's share of the connections and its own edge-triggered epoll loop.
/// Owned by its thread from `connectAll` to the end of `run`; the generator
/// reads `counters` and `latencies` only after the thread has signalled done.
final class LoadWorker: @unchecked Sendable {
    private let options: LoadOptions
    private let endpoint: Endpoint
    private let epoll: EpollSet
    private let slots: UnsafeMutablePointer<EchoConnection>
    private let count: Int
    private let buffers: UnsafeMutableRawBufferPointer
    private let size: Int
    /// Bytes a message sends: `size` (echo), or the download request's 8.
    private let requestSize: Int
    /// Download: the `size` bytes every answer must be, and one receive buffer the
    /// worker's connections share (a worker handles one read at a time), so a
    /// thousand connections downloading 1 MiB each need no gigabyte of buffers.
    private let expected: UnsafeMutableRawBufferPointer?
    private let scratch: UnsafeMutableRawBufferPointer?

    /// Everything the run loop mutates, behind a pointer: a class's stored `var`s
    /// are checked for exclusive access at run time on every modification
    /// (swift_beginAccess, a few per message); memory behind a pointer is not.
    private let state: UnsafeMutablePointer<RunState>

    var counters: LoadCounters { state.pointee.counters }
    var latencies: LatencyRecorder { state.pointee.latencies }

    /// - Parameter firstIndex: global index of this worker's first connection (pattern seed).
    init(options: LoadOptions, endpoint: Endpoint, connections: Int, firstIndex: Int, totalConnections: Int) throws(LoadError) {
        self.options = options
        self.endpoint = endpoint
        self.size = options.size
        self.count = connections
        self.epoll = try EpollSet()
        state = .allocate(capacity: 1)
        state.initialize(to: RunState())
        let perConnection = options.download ? Download.requestSize : options.size
        requestSize = perConnection
        if options.download {
            let file = UnsafeMutableRawBufferPointer.allocate(byteCount: options.size, alignment: 64)
            Download.fillFile(file)
            expected = file
            scratch = .allocate(byteCount: min(options.size, 256 << 10), alignment: 64)
        } else {
            expected = nil
            scratch = nil
        }
        buffers = .allocate(byteCount: max(1, 2 * perConnection * connections), alignment: 64)
        buffers.initializeMemory(as: UInt8.self, repeating: 0)
        slots = .allocate(capacity: max(1, connections))
        for slot in 0..<connections {
            let base = buffers.baseAddress! + 2 * perConnection * slot
            let sendBuffer = UnsafeMutableRawBufferPointer(start: base, count: perConnection)
            if options.download { Download.writeRequest(options.size, into: sendBuffer) }
            slots.advanced(by: slot).initialize(to: EchoConnection(
                index: UInt32(truncatingIfNeeded: firstIndex + slot),
                sendBuffer: sendBuffer,
                recvBuffer: UnsafeMutableRawBufferPointer(start: base + perConnection, count: perConnection),
                refills: !options.download))
        }
        if let rate = options.rate, connections > 0 {
            let share = rate * Double(connections) / Double(totalConnections)
            state.pointee.interval = max(1, UInt64(1e9 / share))
        }
    }

    deinit {
        for slot in 0..<count where slots[slot].fd >= 0 { close(slots[slot].fd) }
        slots.deinitialize(count: count)
        slots.deallocate()
        buffers.deallocate()
        expected?.deallocate()
        scratch?.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    // MARK: Connect phase (echo mode): all connections up before the clock starts.

    /// Starts every connect at once and waits until each one finished or the
    /// connect timeout passed. Churn mode skips this: connecting is what it measures.
    func connectAll() {
        guard options.mode == .echo else { return }
        var pending = 0
        let now = monotonicNanos()
        for slot in 0..<count {
            if openSocket(slot, now: now) { pending += slots[slot].phase == .connecting ? 1 : 0 }
        }
        let deadline = now + nanos(seconds: options.connectTimeoutSeconds)
        while pending > 0 {
            let now = monotonicNanos()
            if now >= deadline { break }
            let ready = wait(until: deadline, now: now)
            for index in 0..<ready {
                guard let slot = slotIndex(index) else { continue }
                guard slots[slot].phase == .connecting else { continue }
                let result = SocketOps.connectResult(slots[slot].fd)
                if result == EINPROGRESS { continue }
                pending -= 1
                if result == 0 {
                    slots[slot].phase = .waiting
                    state.pointee.counters.connected += 1
                } else {
                    fail(slot, .connect, code: result)
                }
            }
        }
        for slot in 0..<count where slots[slot].phase == .connecting {
            fail(slot, .connect, code: ETIMEDOUT)
        }
    }

    /// Opens the socket of `slot` and registers it; false (and an error counted) if that failed at once.
    @discardableResult
    private func openSocket(_ slot: Int, now: UInt64) -> Bool {
        let connection = slots.advanced(by: slot)
        connection.pointee.generation &+= 1
        connection.pointee.startedAt = now
        switch SocketOps.startConnect(to: endpoint) {
        case .failed(let code):
            fail(slot, .connect, code: code)
            return false
        case .connected(let fd):
            connection.pointee.fd = fd
            connection.pointee.phase = .connecting  // resolved by the first event (EPOLLOUT)
        case .inProgress(let fd):
            connection.pointee.fd = fd
            connection.pointee.phase = .connecting
        }
        if !epoll.add(connection.pointee.fd, token: connection.pointee.token | UInt64(slot)) {
            fail(slot, .connect, code: errno)
            return false
        }
        return true
    }

    // MARK: Run phase

    func run(window: RunWindow) {
        state.pointee.window = window
        let now = monotonicNanos()
        switch options.mode {
        case .echo:
            if options.rate == nil {
                for slot in 0..<count where slots[slot].phase == .waiting {
                    slots[slot].beginMessage(intendedStart: now)
                    drive(slot, justStarted: true)
                }
            }
        case .churn:
            for slot in 0..<count {
                openSocket(slot, now: now)
            }
        }

        while true {
            var now = monotonicNanos()
            if now >= state.pointee.window.end { break }
            if state.pointee.interval > 0 {
                dispatchScheduled(now: now)
                now = monotonicNanos()
            }
            if state.pointee.backoffSlots > 0 { retryBackoff(now: now) }
            var wakeAt = state.pointee.window.end
            if state.pointee.interval > 0 { wakeAt = min(wakeAt, state.pointee.window.start + state.pointee.nextScheduled * state.pointee.interval) }
            if state.pointee.backoffSlots > 0 { wakeAt = min(wakeAt, now + 1_000_000) }
            let ready = wait(until: wakeAt, now: now)
            for index in 0..<ready {
                guard let slot = slotIndex(index) else { continue }
                drive(slot)
            }
        }
        finish()
    }

    /// Open loop: issue every scheduled send whose time has come. A busy
    /// connection owes it and sends it the moment its echo is back, still timed
    /// from the schedule (that is the coordinated-omission correction).
    private func dispatchScheduled(now: UInt64) {
        while state.pointee.window.start + state.pointee.nextScheduled * state.pointee.interval <= now {
            let slot = Int(state.pointee.nextScheduled % UInt64(count))
            let connection = slots.advanced(by: slot)
            switch connection.pointee.phase {
            case .waiting:
                connection.pointee.beginMessage(intendedStart: state.pointee.window.start + state.pointee.nextScheduled * state.pointee.interval)
                drive(slot, justStarted: true)
            case .active, .connecting:
                if connection.pointee.owed == 0 { connection.pointee.owedFirst = state.pointee.nextScheduled }
                connection.pointee.owed += 1
            case .backoff, .dead:
                break
            }
            state.pointee.nextScheduled += 1
        }
    }

    private func retryBackoff(now: UInt64) {
        for slot in 0..<count where slots[slot].phase == .backoff && slots[slot].retryAt <= now {
            state.pointee.backoffSlots -= 1
            openSocket(slot, now: now)  // a failure counts and backs off again
        }
    }

    /// Runs one connection as far as it can go without blocking: finish a connect,
    /// send, receive and verify, complete and start the next message — until the
    /// socket says EAGAIN (edge-triggered: nothing is reported twice).
    ///
    /// `justStarted`: the current message was begun by the caller and nothing of
    /// it is on the wire yet. Once such a message is fully sent, its echo cannot
    /// have arrived before the socket's next edge, so the receive that would
    /// only answer EAGAIN is skipped — one syscall less per message.
    private func drive(_ slot: Int, justStarted: Bool = false) {
        let connection = slots.advanced(by: slot)
        var fresh = justStarted
        while true {
            switch connection.pointee.phase {
            case .connecting:
                let result = SocketOps.connectResult(connection.pointee.fd)
                if result == EINPROGRESS { return }
                if result != 0 {
                    fail(slot, .connect, code: result)
                    return
                }
                // Churn: the connect is part of the measured operation, startedAt stays.
                let started = connection.pointee.startedAt
                connection.pointee.beginMessage(intendedStart: started)
                fresh = true
            case .active:
                break
            case .waiting, .backoff, .dead:
                return
            }

            let fd = connection.pointee.fd
            while connection.pointee.sendOffset < requestSize {
                let offset = connection.pointee.sendOffset
                let sent = Int(cload_send(fd, connection.pointee.sendBuffer.baseAddress! + offset, UInt(requestSize - offset)))
                if sent > 0 {
                    connection.pointee.sendOffset += sent
                } else if sent == -Int(EINTR) {
                    continue
                } else if sent == -Int(EAGAIN) || sent == -Int(EWOULDBLOCK) {
                    break
                } else {
                    fail(slot, .reset, code: sent < 0 ? Int32(-sent) : EPIPE)
                    return
                }
            }
            if fresh && connection.pointee.sendOffset == requestSize { return }
            fresh = false
            while connection.pointee.recvOffset < size {
                let offset = connection.pointee.recvOffset
                let received: Int
                let matches: Bool
                if let scratch, let expected {
                    // Download: every byte against the file's pattern, and nothing
                    // may arrive before the whole request went out.
                    received = Int(cload_recv(fd, scratch.baseAddress!, UInt(min(size - offset, scratch.count))))
                    matches = received <= 0
                        || (memcmp(scratch.baseAddress!, expected.baseAddress! + offset, received) == 0
                            && connection.pointee.sendOffset == requestSize)
                } else {
                    received = Int(cload_recv(fd, connection.pointee.recvBuffer.baseAddress! + offset, UInt(size - offset)))
                    matches = received <= 0
                        || (memcmp(connection.pointee.recvBuffer.baseAddress! + offset,
                                   connection.pointee.sendBuffer.baseAddress! + offset, received) == 0
                            && offset + received <= connection.pointee.sendOffset)
                }
                if received > 0 {
                    if !matches {
                        fail(slot, .mismatch, code: 0)
                        return
                    }
                    connection.pointee.recvOffset += received
                } else if received == 0 {
                    fail(slot, .eof, code: 0)
                    return
                } else if received == -Int(EINTR) {
                    continue
                } else if received == -Int(EAGAIN) || received == -Int(EWOULDBLOCK) {
                    return  // wait for the next edge
                } else {
                    fail(slot, .reset, code: Int32(-received))
                    return
                }
            }
            complete(slot)
            fresh = true
        }
    }

    /// Records the finished echo and starts the next one per mode.
    @inline(__always)
    private func complete(_ slot: Int) {
        let connection = slots.advanced(by: slot)
        let now = monotonicNanos()
        state.pointee.counters.requestsTotal += 1
        state.pointee.counters.bytesVerified += UInt64(size)
        if now >= state.pointee.window.measureStart && now < state.pointee.window.end {
            state.pointee.counters.requestsMeasured += 1
            state.pointee.latencies.record(nanos: now &- connection.pointee.startedAt)
        }
        if now >= state.pointee.window.end {
            connection.pointee.phase = .waiting  // the run is over: start nothing new
            return
        }
        switch options.mode {
        case .churn:
            close(connection.pointee.fd)
            connection.pointee.fd = -1
            openSocket(slot, now: now)
        case .echo where state.pointee.interval == 0:
            connection.pointee.beginMessage(intendedStart: now)
        case .echo:
            if connection.pointee.owed > 0 {
                let scheduled = connection.pointee.owedFirst
                connection.pointee.owed -= 1
                connection.pointee.owedFirst = scheduled + UInt64(count)
                connection.pointee.beginMessage(intendedStart: state.pointee.window.start + scheduled * state.pointee.interval)
            } else {
                connection.pointee.phase = .waiting
            }
        }
    }

    /// Counts a failure; the connection is closed, and in churn mode replaced.
    private func fail(_ slot: Int, _ failure: LoadFailure, code: Int32) {
        state.pointee.counters.errors[failure.rawValue] += 1
        if state.pointee.counters.firstError == nil {
            state.pointee.counters.firstError = describe(failure, code: code)
        }
        let connection = slots.advanced(by: slot)
        if connection.pointee.fd >= 0 {
            close(connection.pointee.fd)
            connection.pointee.fd = -1
        }
        connection.pointee.phase = .dead
        guard options.mode == .churn, state.pointee.window.end > 0 else { return }
        // Reconnect after a short pause: an immediate retry of a refused connect would spin.
        connection.pointee.phase = .backoff
        connection.pointee.retryAt = monotonicNanos() + 1_000_000
        state.pointee.backoffSlots += 1
    }

    private func describe(_ failure: LoadFailure, code: Int32) -> String {
        switch failure {
        case .connect: "cannot connect to \(endpoint): \(errnoText(code))"
        case .reset: "connection to \(endpoint) failed: \(errnoText(code))"
        case .mismatch: "echo from \(endpoint) did not match what was sent"
        case .eof: "\(endpoint) closed the connection before echoing everything"
        case .timeout: "no echo from \(endpoint) within the stall limit"
        }
    }

    /// End of run: a message still unanswered long after it started means the
    /// server stalled — counted, so a hang shows up as errors, never as a hang.
    private func finish() {
        let stallLimit = min(nanos(seconds: 1), max(nanos(seconds: options.durationSeconds) / 2, 1))
        for slot in 0..<count {
            let connection = slots.advanced(by: slot)
            let phase = connection.pointee.phase
            if (phase == .active || phase == .connecting) && state.pointee.window.end &- connection.pointee.startedAt > stallLimit
                && state.pointee.window.end > connection.pointee.startedAt {
                state.pointee.counters.errors[LoadFailure.timeout.rawValue] += 1
                if state.pointee.counters.firstError == nil { state.pointee.counters.firstError = describe(.timeout, code: 0) }
            }
            if connection.pointee.fd >= 0 {
                close(connection.pointee.fd)
                connection.pointee.fd = -1
            }
            connection.pointee.phase = .dead
        }
    }

    // MARK: Helpers

    /// epoll wait until `deadline` (ns), with ns precision where the kernel has
    /// epoll_pwait2 (open-loop schedules need better than 1 ms).
    private func wait(until deadline: UInt64, now: UInt64) -> Int {
        epoll.wait(timeoutNanos: deadline > now ? deadline - now : 0, precise: &state.pointee.usePwait2)
    }

    /// The slot an event is for, or nil if it belongs to a socket closed since.
    @inline(__always)
    private func slotIndex(_ event: Int) -> Int? {
        let token = epoll.token(at: event)
        let slot = Int(token & 0xFFFF_FFFF)
        guard slot < count, slots[slot].generation == UInt32(truncatingIfNeeded: token >> 32) else { return nil }
        return slot
    }
}
