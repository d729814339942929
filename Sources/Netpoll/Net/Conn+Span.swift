// Reads and writes in the toolchain's safe, non-escapable views (Swift 6.2: `RawSpan`,
// `Span`, `MutableRawSpan`, `MutableSpan`, `OutputRawSpan`, `OutputSpan`): the same
// operations as the `Unsafe*` ones, at the same cost, without a pointer in the
// caller's code. The `Unsafe*` overloads stay as the escape hatch.
//
// Why handing a span's pointer to an async read or write is sound: each span comes in
// as a borrowed (or `inout`) parameter, so the memory it views is kept alive and
// exclusively ours until the function returns — across its suspensions too — and no
// pointer taken from it outlives the call. The borrowed read hands `body` a `RawSpan`
// of a loop buffer that the compiler will not let `body` keep.

extension Conn {
    /// Reads up to `buffer.byteCount` bytes into the front of `buffer`. Returns the
    /// count read; 0 means end of stream.
    ///
    /// ```swift
    /// var bytes = [UInt8](repeating: 0, count: 4096)
    /// var span = bytes.mutableSpan
    /// let n = try await conn.read(into: &span)
    /// ```
    public func read(into buffer: inout MutableSpan<UInt8>) async throws -> Int {
        var raw = buffer.mutableBytes
        return try await read(into: &raw)
    }

    /// Reads up to `buffer.byteCount` bytes into the front of `buffer`. Returns the
    /// count read; 0 means end of stream.
    public func read(into buffer: inout MutableRawSpan) async throws -> Int {
        let memory = buffer.withUnsafeMutableBytes { $0 }
        return try await read(into: memory)
    }

    /// Reads up to `buffer.freeCapacity` bytes and appends them to `buffer`'s
    /// initialized part. Returns the count appended; 0 means end of stream (or a
    /// full `buffer`, which reads nothing).
    public func read(into buffer: inout OutputRawSpan) async throws -> Int {
        let free = buffer.withUnsafeMutableBytes { memory, initialized in
            UnsafeMutableRawBufferPointer(rebasing: memory[initialized...])
        }
        if free.isEmpty { return 0 }
        let n = try await read(into: free)
        buffer.withUnsafeMutableBytes { _, initialized in initialized += n }
        return n
    }

    /// Reads up to `buffer.freeCapacity` bytes and appends them to `buffer`'s
    /// initialized part. Returns the count appended; 0 means end of stream (or a
    /// full `buffer`).
    public func read(into buffer: inout OutputSpan<UInt8>) async throws -> Int {
        let free = buffer.withUnsafeMutableBufferPointer { memory, initialized in
            UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: memory[initialized...]))
        }
        if free.isEmpty { return 0 }
        let n = try await read(into: free)
        buffer.withUnsafeMutableBufferPointer { _, initialized in initialized += n }
        return n
    }

    /// Reads up to `maxCount` bytes (and at most 64 KiB) and appends them to `bytes`.
    /// Returns the count appended; 0 means end of stream. The read goes into a loop
    /// buffer borrowed for it (see ``readBorrowed(upTo:_:)``), so a connection
    /// waiting here holds no buffer, and costs one copy into the array — the form
    /// for a parser that keeps what it has not consumed yet.
    ///
    /// ```swift
    /// var pending: [UInt8] = []
    /// while try await conn.read(appendingTo: &pending) > 0 {
    ///     while let line = takeLine(&pending) { … }
    /// }
    /// ```
    public func read(appendingTo bytes: inout [UInt8], upTo maxCount: Int = .max) async throws -> Int {
        try await readBorrowed(upTo: maxCount) { chunk in
            bytes.append(contentsOf: chunk)
            return chunk.count
        }
    }

    /// ``readBorrowed(upTo:_:)`` with the bytes as a `RawSpan`: one read into a
    /// buffer of the loop's, handed to `body` without a copy; empty means end of
    /// stream. The span cannot escape `body` — the compiler sees to it — so the
    /// buffer goes back to the loop when `body` returns. Costs what
    /// ``readBorrowed(upTo:_:)`` costs (MessageCostTests counts both).
    ///
    /// ```swift
    /// let open = try await conn.readSpan { bytes in
    ///     if bytes.isEmpty { return false }
    ///     try await conn.write(bytes)
    ///     return true
    /// }
    /// ```
    @inlinable  // see docs/runtime-tricks.md#at-once
    public func readSpan<R>(upTo maxCount: Int = .max, _ body: (RawSpan) async throws -> R) async throws -> R {
        // readBorrowed's steps, not a call to it: a closure around `body` would be a
        // task-allocator frame per read (MessageCostTests holds both to one budget).
        let fd = self.fd  // once (docs/runtime-tricks.md#fd-once)
        let borrowed = try await borrow(fd, upTo: maxCount)
        defer { fd.giveBack(borrowed) }
        return try await body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: borrowed.start, count: borrowed.count)))
    }

    /// Writes every byte of `bytes` (waiting for space as needed). If it throws, part
    /// of `bytes` may have been sent: ``write(_:written:)-(RawSpan,_)`` tells how much.
    @inlinable @inline(__always)  // see docs/runtime-tricks.md#at-once, #inlined-async
    public func write(_ bytes: RawSpan) async throws {
        try await write(bytes.withUnsafeBytes { $0 })
    }

    /// Writes every byte of `bytes`, as ``write(_:)-(RawSpan)``.
    @inlinable @inline(__always)  // see docs/runtime-tricks.md#at-once, #inlined-async
    public func write(_ bytes: Span<UInt8>) async throws {
        try await write(bytes.bytes)
    }

    /// Writes every byte of `bytes`, keeping `written` equal to the bytes sent so
    /// far, also when it throws: after a write deadline or a cancellation, resume
    /// with `bytes.extracting(droppingFirst: written)`.
    public func write(_ bytes: RawSpan, written: inout Int) async throws {
        try await write(bytes.withUnsafeBytes { $0 }, written: &written)
    }
}

extension UDPConn {
    /// Receives one datagram into the front of `buffer` and says who sent it (Go:
    /// ReadFrom); see ``ReceivedDatagram`` for a datagram larger than `buffer`.
    public func readFrom(into buffer: inout MutableSpan<UInt8>) async throws -> ReceivedDatagram {
        var raw = buffer.mutableBytes
        return try await readFrom(into: raw.withUnsafeMutableBytes { $0 })
    }

    /// Receives one datagram on a connected socket into the front of `buffer` (Go: Read).
    public func read(into buffer: inout MutableSpan<UInt8>) async throws -> ReceivedDatagram {
        try await readFrom(into: &buffer)
    }

    /// Sends `bytes` as one datagram to `address` (Go: WriteTo). Returns its size.
    @discardableResult
    public func writeTo(_ bytes: RawSpan, address: SocketAddress) async throws -> Int {
        try await writeTo(bytes.withUnsafeBytes { $0 }, address: address)
    }

    /// Sends `bytes` as one datagram to the connected peer (Go: Write). Returns its size.
    @discardableResult
    public func write(_ bytes: RawSpan) async throws -> Int {
        try await write(bytes.withUnsafeBytes { $0 })
    }

    /// Sends `bytes` as one datagram to the connected peer (Go: Write). Returns its size.
    @discardableResult
    public func write(_ bytes: Span<UInt8>) async throws -> Int {
        try await write(bytes.bytes)
    }
}
