#if canImport(Glibc)
import Glibc
#endif

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
        // Array storage cannot be held across a suspension point; read into a
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

    /// Borrows a buffer of the connection's loop for one read and runs `body` on the bytes
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
    @inlinable  // see docs/runtime-tricks.md#at-once
    public func readBorrowed<R>(
        upTo maxCount: Int = .max, _ body: (UnsafeRawBufferPointer) async throws -> R
    ) async throws -> R {
        // Read once: each use of the `fd` requirement is a witness call that
        // returns it retained (see docs/runtime-tricks.md#fd-once).
        let fd = self.fd
        let borrowed = try await borrow(fd, upTo: maxCount)
        defer { fd.giveBack(borrowed) }
        return try await body(UnsafeRawBufferPointer(start: borrowed.start, count: borrowed.count))
    }

    /// The borrowed reads' read (``readBorrowed(upTo:_:)``, ``readSpan(upTo:_:)``):
    /// tried at once, else waited for. Inlined into both, or it would be a
    /// task-allocator frame per message (MessageCostTests).
    @inlinable @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func borrow(_ fd: FD, upTo maxCount: Int) async throws -> FD.BorrowedBytes {
        if let now = try Self.borrowAtOnce(fd, upTo: maxCount) { return now }
        return try await borrowRead(upTo: maxCount)
    }

    /// readBorrowed's first attempt, counted (see FD.borrowAtOnce).
    @usableFromInline
    static func borrowAtOnce(_ fd: FD, upTo maxCount: Int) throws -> FD.BorrowedBytes? {
        let borrowed: FD.BorrowedBytes?
        do {
            borrowed = try fd.borrowAtOnce(upTo: maxCount)
        } catch {
            fd.withStats { $0.noteError(error) }
            throw error
        }
        if let borrowed { fd.withStats { $0.noteRead(borrowed.count) } }
        return borrowed
    }

    /// readBorrowed's read, counted: FD's read without a closure around it, so a
    /// parked reader holds no frame more (see FD.borrow). Errors `body` throws are its
    /// own (a write inside it counts itself).
    @usableFromInline
    func borrowRead(upTo maxCount: Int) async throws -> FD.BorrowedBytes {
        // Read once: each use of the `fd` requirement is a witness call that
        // returns it retained (a retain and release per use, per message; see
        // docs/runtime-tricks.md#fd-once).
        let fd = self.fd
        let borrowed: FD.BorrowedBytes
        do {
            borrowed = try await fd.borrow(upTo: maxCount)
        } catch {
            fd.withStats { $0.noteError(error) }
            throw error
        }
        fd.withStats { $0.noteRead(borrowed.count) }
        return borrowed
    }

    /// Writes every byte of `buffer` (waiting for space as needed). If it throws,
    /// part of `buffer` may have been sent: use ``write(_:written:)-(UnsafeRawBufferPointer,_)`` to know how much.
    ///
    /// Inlinable, with the write tried at once in a synchronous call: a write the
    /// kernel takes whole costs its caller no async frame (FD+AtOnce.swift).
    @inlinable @inline(__always)  // see docs/runtime-tricks.md#at-once, #inlined-async
    public func write(_ buffer: UnsafeRawBufferPointer) async throws {
        let fd = self.fd  // once (docs/runtime-tricks.md#fd-once)
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
        let fd = self.fd  // once (docs/runtime-tricks.md#fd-once)
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
