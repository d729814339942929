import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// Zero-copy file → socket (Go: internal/poll.SendFile, sendfile_linux.go): the
/// kernel copies from the page cache to the socket, the bytes never pass through
/// user space.
extension FD {
    /// The most one sendfile(2) is asked to move (Go: maxSendfileSize, 4 MiB), so a
    /// huge file is sent in turns and a deadline or cancellation is seen between them.
    static let maxSendfileSize = 4 << 20

    /// Sends up to `count` bytes of `file` from `offset` (nil: to the end of the
    /// file) and keeps `sent` equal to what went out, also when it throws. Go's
    /// loop: sendfile until done; EAGAIN (socket buffer full) → wait on the write
    /// PollDesc and go on where it stopped; 0 → the file ended before `count`,
    /// which ends the send cleanly with what was sent. `file`'s own offset is not
    /// used or moved. `file` must be something sendfile can read from: a regular
    /// file (or block device); anything else fails (ESPIPE for a pipe, EINVAL for
    /// a socket).
    func sendFile(from file: Int32, offset: Int64, count: Int64?, sent: inout Int64) async throws {
        sent = 0
        guard offset >= 0 else { throw NetpollError.failed("sendfile", errno: EINVAL) }
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        let total = count ?? .max
        var position = offset
        while sent < total {
            let chunk = Int(min(total - sent, Int64(FD.maxSendfileSize)))
            let n = try await retrying(.write, "sendfile") {
                cnp_sendfile(sysfd, file, &position, chunk)
            }
            if n == 0 { break }
            sent += n
        }
    }
}
