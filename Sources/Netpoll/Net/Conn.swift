#if canImport(Glibc)
import Glibc
#endif

/// What every socket of the Net layer has, stream or datagram (the methods Go's
/// net.Conn and net.PacketConn share): deadlines, addresses, buffer sizes.
public protocol NetSocket: Sendable {
    /// The underlying pollable descriptor.
    var fd: FD { get }
}

/// A connected stream socket: the operations TCP and Unix connections share
/// (Go: net.Conn). Reading from one task while writing from another is supported;
/// two concurrent reads (or writes) are serialised.
public protocol Conn: NetSocket {}

extension Conn {
    /// The loop this connection's readiness is delivered on. Running the code that
    /// uses the connection there (``Listener/serve(_:)``, isolated to
    /// ``EventLoop/isolation``, or `Task(executorPreference:)`) avoids a thread hop
    /// per wakeup.
    public var loop: EventLoop { fd.loop }

    /// Reads up to `buffer.count` bytes into `buffer`. Returns 0 at end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let n = try await fd.counted { try await fd.read(into: buffer) }
        fd.withStats { $0.noteRead(n) }
        return n
    }

    /// Reads up to `maxCount` bytes; an empty array means end of stream.
    public func read(maxCount: Int = 65536) async throws -> [UInt8] {
        // Array storage cannot be lent across a suspension point; read into a
        // temporary buffer. Hot paths use read(into:) with their own buffer.
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, maxCount), alignment: 1)
        defer { buf.deallocate() }
        let n = try await read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<maxCount]))
        return Array(buf[0..<n])
    }

    /// Waits until the connection has bytes to read, has reached end of stream or
    /// has an error pending, without reading anything (see ``FD/waitReadable()``),
    /// so a connection waiting here holds no buffer. Throws when the read deadline
    /// passes, the connection is closed or the task is cancelled.
    public func waitReadable() async throws {
        do {
            try await fd.waitReadable()
        } catch {
            fd.withStats { $0.noteError(error) }
            throw error
        }
    }

    /// Reads into a buffer lent by the connection's loop and runs `body` on the bytes
    /// read (valid only during `body`; empty means end of stream). A connection
    /// waiting here holds no read buffer: thousands of idle connections cost no
    /// buffer memory, and the few buffers in use are reused rather than allocated
    /// per connection. Reads at most `maxCount` bytes (and at most 64 KiB).
    ///
    /// Inlinable, so the caller's `body` is inlined with it: a closure called through
    /// a function value costs the task-allocator frames of its thunk and itself on
    /// every read.
    ///
    /// The read is tried at once in a synchronous call, so a read that finds data
    /// costs no frame of its own either (FD+AtOnce.swift).
    @inlinable
    public func readBorrowed<R>(
        upTo maxCount: Int = .max, _ body: (UnsafeRawBufferPointer) async throws -> R
    ) async throws -> R {
        // Read once: each use of the `fd` requirement is a witness call that
        // returns it retained.
        let fd = self.fd
        let lent: FD.LentBytes
        if let now = try Self.borrowAtOnce(fd, upTo: maxCount) {
            lent = now
        } else {
            lent = try await borrowRead(upTo: maxCount)
        }
        defer { fd.giveBack(lent) }
        return try await body(UnsafeRawBufferPointer(start: lent.start, count: lent.count))
    }

    /// readBorrowed's first attempt, counted (see FD.lendAtOnce).
    @usableFromInline
    static func borrowAtOnce(_ fd: FD, upTo maxCount: Int) throws -> FD.LentBytes? {
        let lent: FD.LentBytes?
        do {
            lent = try fd.lendAtOnce(upTo: maxCount)
        } catch {
            fd.withStats { $0.noteError(error) }
            throw error
        }
        if let lent { fd.withStats { $0.noteRead(lent.count) } }
        return lent
    }

    /// readBorrowed's read, counted: FD's read without a closure around it, so a
    /// parked reader holds no frame more (see FD.lend). Errors `body` throws are its
    /// own (a write inside it counts itself).
    @usableFromInline
    func borrowRead(upTo maxCount: Int) async throws -> FD.LentBytes {
        // Read once: each use of the `fd` requirement is a witness call that
        // returns it retained (a retain and release per use, per message).
        let fd = self.fd
        let lent: FD.LentBytes
        do {
            lent = try await fd.lend(upTo: maxCount)
        } catch {
            fd.withStats { $0.noteError(error) }
            throw error
        }
        fd.withStats { $0.noteRead(lent.count) }
        return lent
    }

    /// Writes every byte of `buffer` (waiting for space as needed). If it throws,
    /// part of `buffer` may have been sent: use ``write(_:written:)`` to know how much.
    ///
    /// Inlinable, with the write tried at once in a synchronous call: a write the
    /// kernel takes whole costs its caller no async frame (FD+AtOnce.swift).
    @inlinable @inline(__always)
    public func write(_ buffer: UnsafeRawBufferPointer) async throws {
        let fd = self.fd  // once (see borrowRead)
        switch try Self.writeAtOnce(fd, buffer) {
        case .done: return
        case .holding(let written, let waitFirst):
            try await Self.finishWrite(fd, buffer, from: written, waitFirst: waitFirst)
        case .busy:
            var written = 0
            try await write(buffer, written: &written)
        }
    }

    /// write's first attempt, counted: a write that is done counts here, one that
    /// goes on counts in finishWrite.
    @usableFromInline
    static func writeAtOnce(_ fd: FD, _ buffer: UnsafeRawBufferPointer) throws -> FD.WriteAttempt {
        do {
            let attempt = try fd.writeAtOnce(buffer)
            if case .done = attempt { countWrite(fd, buffer.count) }
            return attempt
        } catch {
            countWrite(fd, 0, failedWith: error)  // it throws only before any byte went out
            throw error
        }
    }

    @usableFromInline
    static func finishWrite(_ fd: FD, _ buffer: UnsafeRawBufferPointer, from start: Int, waitFirst: Bool) async throws {
        var written = start
        do {
            try await fd.finishWrite(buffer, written: &written, waitFirst: waitFirst)
        } catch {
            countWrite(fd, written, failedWith: error)
            throw error
        }
        countWrite(fd, written)
    }

    /// Counts a write that sent `written` bytes and finished, or failed with
    /// `error`: the bytes that went out before a failure still count as written.
    static func countWrite(_ fd: FD, _ written: Int, failedWith error: (any Error)? = nil) {
        fd.withStats {
            guard let error else { return $0.noteWrite(written) }
            $0.bytesWritten.wrappingAdd(UInt64(written), ordering: .relaxed)
            $0.noteError(error)
        }
    }

    /// Writes every byte of `buffer`, keeping `written` equal to the bytes sent so far,
    /// also when it throws (Go's `n, err` from `Write`): after a write deadline or a
    /// cancellation, resume with `buffer[written...]`.
    public func write(_ buffer: UnsafeRawBufferPointer, written: inout Int) async throws {
        let fd = self.fd  // once (see borrowRead)
        do {
            try await fd.write(buffer, written: &written)
        } catch {
            Self.countWrite(fd, written, failedWith: error)
            throw error
        }
        Self.countWrite(fd, written)
    }

    public func write(_ bytes: some Collection<UInt8> & Sendable) async throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        defer { buf.deallocate() }
        buf.copyBytes(from: bytes)
        try await write(UnsafeRawBufferPointer(rebasing: buf[0..<bytes.count]))
    }

    /// Closes the connection; blocked reads and writes end with
    /// ``NetpollError/netClosing``. Returns once the descriptor is closed.
    public func close() async throws { try await fd.close() }

    /// Shuts down the reading side (Go: CloseRead).
    public func closeRead() throws { try fd.shutdown(Int32(SHUT_RD)) }

    /// Shuts down the writing side; the peer reads end of stream (Go: CloseWrite).
    public func closeWrite() throws { try fd.shutdown(Int32(SHUT_WR)) }
}

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
        isolation.preconditionIsolated()  // keeps the hop (see runIsolated)
        var backoff = AcceptBackoff()
        // The connection tasks' parks skip their cancellation handlers: their group
        // is cancelled when this task is, or when the accept loop throws, and both
        // call `covered.cancel()` (PollDesc+Cover.swift).
        let covered = CoveredWaits()
        try await withTaskCancellationHandler {
            // Both closures are @concurrent function types in the standard library:
            // only a closure that captures the isolated parameter stays on the loop
            // (see PollDesc.block); otherwise the accept loop runs on the pool.
            _ = isolation
            try await withThrowingDiscardingTaskGroup { tasks in
                _ = isolation
                do {
                    while let conn = try await listener.accept(backingOff: &backoff) {
                        if conn.loop.isolation === isolation {
                            // On the listener's loop: a closure that captures the
                            // isolated parameter is isolated to it, so the immediate
                            // task starts the handler on the spot. One isolated by a
                            // capture list (below) starts with a hop onto the loop's
                            // queue: one more job, and one more poll, per connection.
                            tasks.addImmediateTask {
                                _ = isolation
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
        isolation.preconditionIsolated()  // keeps the hop (see runIsolated)
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

extension NetSocket {
    /// Deadlines (Go: SetDeadline/SetReadDeadline/SetWriteDeadline). A deadline is an
    /// instant; nil clears it. One in the past fails pending and future operations
    /// at once with ``NetpollError/deadlineExceeded`` (``NetpollError/isTimeout``),
    /// even when data is ready. Changing it while an operation waits takes effect
    /// for that operation.
    public func setDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .readWrite)
    }

    public func setReadDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .read)
    }

    public func setWriteDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .write)
    }

    /// Deadlines a time from now (Go: `SetDeadline(time.Now().Add(d))`); nil clears,
    /// zero or less fails operations at once, as a deadline in the past does. The
    /// form for a server that sets one before each operation: no instant is made,
    /// so an async caller keeps no `ContinuousClock.Instant` temporaries (a type of
    /// unknown size to the compiler, held in task-allocator memory: two allocations
    /// per message in an echo handler).
    public func setDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .readWrite)
    }

    public func setReadDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .read)
    }

    public func setWriteDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .write)
    }

    public var localAddress: SocketAddress? { Socket.localAddress(fd.sysfd) }
    /// The connected peer; nil for an unconnected (datagram) socket.
    public var remoteAddress: SocketAddress? { Socket.remoteAddress(fd.sysfd) }

    /// SO_RCVBUF / SO_SNDBUF (the kernel doubles what it is given). A datagram
    /// socket whose receive buffer fills drops datagrams: UDP has no flow control.
    public func setReadBuffer(_ bytes: Int) throws {
        try Socket.setOption(fd.sysfd, SOL_SOCKET, SO_RCVBUF, Int32(clamping: bytes), "SO_RCVBUF")
    }

    public func setWriteBuffer(_ bytes: Int) throws {
        try Socket.setOption(fd.sysfd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: bytes), "SO_SNDBUF")
    }
}
