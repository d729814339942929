import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Writes (Go: FD.Write, FD.Writev): every byte, waiting for space as needed, with
// Go's (n, err) contract through `written`.
extension FD {
    /// Writes all of `buffer`, waiting for space as needed (partial writes are
    /// accumulated; chunks of at most 1 GiB). Returns `buffer.count`. When it throws,
    /// some bytes may already have gone out: ``write(_:written:)`` tells how many.
    @discardableResult
    public func write(_ buffer: UnsafeRawBufferPointer) async throws -> Int {
        var written = 0
        try await write(buffer, written: &written)
        return written
    }

    /// Go's `Write` contract (n, err): writes all of `buffer` and keeps `written` equal
    /// to the bytes that went out, also when it throws (a deadline, cancellation, a
    /// reset peer), so a caller can resume a write that timed out from
    /// `buffer[written...]`.
    @inline(__always)  // into Conn.write: a frame less per write (docs/runtime-tricks.md#inlined-async)
    public func write(_ buffer: UnsafeRawBufferPointer, written: inout Int) async throws {
        written = 0
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        try await writeRest(buffer, written: &written)
    }

    /// The write loop, from `written` on, with the write lock held and the
    /// descriptor prepared.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func writeRest(_ buffer: UnsafeRawBufferPointer, written: inout Int) async throws {
        guard let base = buffer.baseAddress else { return }
        while written < buffer.count {
            let chunk = callCount(min(buffer.count - written, FD.maxRW), .write)
            let from = base + written
            let n = try await retrying(.write, writeName) { send(from, chunk) }
            // A zero-length result for a non-empty write: the peer can take no more.
            if n == 0 { throw NetpollError.wroteNothing(writeName) }
            written += n
        }
    }

    var writeName: String { isSocket ? "send" : "write" }

    /// One send(2) (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE) or write(2);
    /// -errno on failure.
    @inline(__always)
    func send(_ from: UnsafeRawPointer, _ count: Int) -> Int {
        isSocket ? cnp_send(sysfd, from, UInt(count), Int32(MSG_NOSIGNAL)) : cnp_write(sysfd, from, UInt(count))
    }

    /// Gather write (writev): writes every byte of `buffers`, in order.
    @discardableResult
    public func writev(_ buffers: [UnsafeRawBufferPointer]) async throws -> Int {
        var written = 0
        try await writev(buffers, written: &written)
        return written
    }

    /// ``writev(_:)`` keeping `written` equal to the bytes that went out, also when it
    /// throws (see ``write(_:written:)``).
    public func writev(_ buffers: [UnsafeRawBufferPointer], written: inout Int) async throws {
        written = 0
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        var iov = buffers.filter { $0.count > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        var first = 0
        while first < iov.count {
            let batch = min(iov.count - first, FD.iovMax)
            let start = first
            let n = try await retrying(.write, "writev") {
                NetpollError.minusErrno(iov.withUnsafeBufferPointer { Glibc.writev(sysfd, $0.baseAddress! + start, Int32(batch)) })
            }
            written += n
            // Consume n bytes from the front of the iovec list.
            var left = n
            while left > 0 && first < iov.count {
                if left >= iov[first].iov_len {
                    left -= iov[first].iov_len
                    first += 1
                } else {
                    iov[first].iov_base = iov[first].iov_base! + left
                    iov[first].iov_len -= left
                    left = 0
                }
            }
        }
    }

    // MARK: accept / connect
}
