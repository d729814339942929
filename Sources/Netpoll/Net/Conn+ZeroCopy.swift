/// Zero-copy writes on TCP and Unix stream connections (Go: TCPConn.ReadFrom, which
/// uses sendfile for an *os.File and splice for a socket). See the "Zero-copy
/// writes" article for when they pay off.
extension Conn {
    /// Sends `count` bytes of the open file `file` (nil: to its end) from `offset`
    /// with sendfile(2): the kernel copies from the page cache straight to the
    /// socket. Returns the bytes sent — fewer than `count` only when the file ended
    /// first. Waits for socket buffer space as ``write(_:)-(UnsafeRawBufferPointer)`` does, so write
    /// deadlines, cancellation and close end it the same way; ``sendFile(_:offset:count:sent:)-(Int32,_,_,_)``
    /// tells how much went out before that. The file's own offset is neither used
    /// nor moved, and `file` stays the caller's to close. It must be a regular file
    /// (sendfile's rule: a pipe fails with ESPIPE, a socket with EINVAL).
    @discardableResult
    public func sendFile(_ file: Int32, offset: Int64 = 0, count: Int64? = nil) async throws -> Int64 {
        var sent: Int64 = 0
        try await fd.sendFile(from: file, offset: offset, count: count, sent: &sent)
        return sent
    }

    /// ``sendFile(_:offset:count:)-(Int32,_,_)`` keeping `sent` equal to the bytes that went
    /// out, also when it throws: resume from `offset + sent`.
    public func sendFile(_ file: Int32, offset: Int64 = 0, count: Int64? = nil, sent: inout Int64) async throws {
        try await fd.sendFile(from: file, offset: offset, count: count, sent: &sent)
    }

    /// Copies up to `count` bytes (nil: until end of stream) from `source` into this
    /// connection with splice(2), through a kernel pipe: the bytes never enter user
    /// space. Returns the bytes moved; stops early only at the source's end of
    /// stream. The source's read deadline bounds the waits for input, this
    /// connection's write deadline the waits for output. Reads of `source` and
    /// writes of this connection are serialised with its other reads and writes.
    ///
    /// Two calls, one per direction, make a proxy (see the "Zero-copy writes" article).
    @discardableResult
    public func splice(from source: some Conn, count: Int64? = nil) async throws -> Int64 {
        try await splice(from: source.fd, count: count)
    }

    /// ``splice(from:count:)`` from any stream socket or pipe registered as an
    /// ``FD`` (for a pipe: `FD.open(pipeReadEnd, loop:, isSocket: false)`).
    @discardableResult
    public func splice(from source: FD, count: Int64? = nil) async throws -> Int64 {
        var moved: Int64 = 0
        try await fd.splice(from: source, count: count, moved: &moved)
        return moved
    }

    /// ``splice(from:count:)-(FD,_)`` keeping `moved` equal to the bytes delivered, also
    /// when it throws.
    public func splice(from source: FD, count: Int64? = nil, moved: inout Int64) async throws {
        try await fd.splice(from: source, count: count, moved: &moved)
    }
}
