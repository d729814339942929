import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// Zero-copy socket/pipe → descriptor through a kernel pipe (Go: internal/poll.Splice,
/// splice.go): splice(2) moves page references from the source's receive queue into
/// a pipe, then from the pipe into the destination, without copying through user
/// space.
///
/// Each call makes its own pipe (two descriptors, closed when it returns); Go keeps
/// a pool of them, which pays off for many short splices — a proxy splices each
/// direction once, for the connection's life, so one pipe per call costs little.
extension FD {
    /// Moves up to `count` bytes (nil: until end of stream) from `source` — a
    /// stream socket or a pipe — into this descriptor, keeping `moved` equal to the
    /// bytes that reached it, also when it throws. Go's loop: drain at most
    /// CNP_MAX_SPLICE bytes from the source into the empty pipe (EAGAIN → wait for
    /// read on the source), then pump all of them out (EAGAIN → wait for write here),
    /// and again. Source deadlines apply to the drain, this descriptor's to the pump.
    /// When the pump fails, what was still in the pipe is lost with it (as in Go).
    func splice(from source: FD, count: Int64?, moved: inout Int64) async throws {
        moved = 0
        if source.ringReceive {
            try await copyReceived(from: source, count: count, moved: &moved)
            return
        }
        var fds: [Int32] = [-1, -1]
        let rc = cnp_splice_pipe(&fds)
        try NetpollError.checkNegated("pipe2", rc)
        defer {
            Glibc.close(fds[0])
            Glibc.close(fds[1])
        }
        let (pipeRead, pipeWrite) = (fds[0], fds[1])
        var remain = count ?? .max
        while remain > 0 {
            let inPipe = try await source.spliceDrain(into: pipeWrite, max: Int(min(remain, Int64(CNP_MAX_SPLICE))))
            if inPipe == 0 { return }  // end of stream
            var pumped = 0
            defer { moved += Int64(pumped) }
            try await splicePump(from: pipeRead, count: inPipe, pumped: &pumped)
            remain -= Int64(inPipe)
        }
    }

    /// Go: spliceDrain. The pipe is empty when this runs (the pump empties it), so
    /// an EAGAIN means the source has nothing, never that the pipe is full.
    private func spliceDrain(into pipe: Int32, max: Int) async throws -> Int {
        try await readLock()
        defer { readUnlock() }
        // splice takes from the receive queue without going through `noteRead`, and
        // may leave data behind (at most `max` moves): a drained-queue hint left
        // from an earlier short read would make the next read wait for an event
        // that never comes. Drop it; the syscall runs before any wait.
        receiveQueueDrained.store(false, ordering: .relaxed)
        try prepare(.read)
        return Int(try await retrying(.read, "splice") { cnp_splice(sysfd, pipe, max) })
    }

    /// Go: splicePump. Moves exactly `count` bytes from the pipe out to this
    /// descriptor; `pumped` says how many did, also when it throws.
    private func splicePump(from pipe: Int32, count: Int, pumped: inout Int) async throws {
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        while pumped < count {
            let left = count - pumped
            let n = try await retrying(.write, "splice") { cnp_splice_out(pipe, sysfd, left) }
            // Splice owns the pipe's write end: 0 with bytes still in it cannot happen.
            if n == 0 { throw NetpollError.wroteNothing("splice") }
            pumped += Int(n)
        }
    }

    /// ``splice(from:count:moved:)`` from a socket io_uring completion mode reads
    /// through the ring: its RECV already moves the bytes into the loop's buffers,
    /// and a splice from the socket beside it would take later bytes before earlier
    /// ones. So what it receives is written out from the ring buffers it lands in
    /// (one copy, no pipe).
    private func copyReceived(from source: FD, count: Int64?, moved: inout Int64) async throws {
        var remain = count ?? .max
        while remain > 0 {
            let n = try await source.readBorrowed(upTo: Int(min(remain, Int64(ReadBufferPool.bufferSize)))) { bytes -> Int in
                var written = 0
                defer { moved += Int64(written) }
                try await write(bytes, written: &written)
                return bytes.count
            }
            if n == 0 { return }  // end of stream
            remain -= Int64(n)
        }
    }
}
