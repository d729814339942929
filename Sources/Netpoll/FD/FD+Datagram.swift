import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// One datagram as recvmsg(2) reported it. Truncation is never silent: recvmsg is
/// called with MSG_TRUNC in its flags, so for UDP (and Unix datagram sockets) the
/// kernel returns the datagram's real length even when the buffer held less, and
/// sets MSG_TRUNC in `msg_flags`.
struct DatagramReceipt {
    /// Bytes stored in the caller's buffer.
    var count: Int
    /// The datagram's size as sent (greater than `count` when truncated).
    var length: Int
    /// MSG_TRUNC was reported: the bytes past `count` were discarded by the kernel.
    var truncated: Bool
    /// Who sent it (recvmsg's `msg_name`).
    var sender: SocketAddressStorage
}

/// Datagram operations (Go: FD.ReadFrom/ReadMsg/WriteTo/WriteMsg in fd_unix.go): the
/// same lock → prepare → syscall/EAGAIN/wait loop as the stream operations, through
/// the same PollDesc, so deadlines, cancellation and close behave exactly as for TCP.
/// A datagram descriptor is opened with `isStream == false`: a short datagram says
/// nothing about what is queued behind it, so the drained-queue hint never applies.
extension FD {
    /// Receives one datagram into `buffer` (recvmsg). A zero-length datagram is a
    /// datagram (count 0), not end of stream.
    func receiveDatagram(into buffer: UnsafeMutableRawBufferPointer) async throws -> DatagramReceipt {
        try await readLock()
        defer { readUnlock() }
        try prepare(.read)
        var sender = SocketAddressStorage()
        var flags: Int32 = 0
        let n = try await retrying(.read, "recvmsg") {
            sender = SocketAddressStorage()
            var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return withUnsafeMutablePointer(to: &iov) { iovp in
                sender.withMutableSockaddr { sa, len in
                    var msg = msghdr()
                    msg.msg_name = UnsafeMutableRawPointer(sa)
                    msg.msg_namelen = len.pointee
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    let r = Glibc.recvmsg(sysfd, &msg, Int32(MSG_TRUNC))
                    len.pointee = msg.msg_namelen
                    flags = msg.msg_flags
                    return NetpollError.minusErrno(r)
                }
            }
        }
        let truncated = flags & Int32(MSG_TRUNC) != 0
        return DatagramReceipt(
            count: min(n, buffer.count), length: truncated ? max(n, buffer.count) : n,
            truncated: truncated, sender: sender)
    }

    /// Sends `buffer` as one datagram, to `address` or (nil) to the connected peer.
    /// A datagram goes out whole or not at all: EMSGSIZE for one larger than the
    /// protocol allows, EAGAIN (wait for write) while the send buffer is full.
    func sendDatagram(_ buffer: UnsafeRawBufferPointer, to address: SocketAddressStorage?) async throws -> Int {
        try await writeLock()
        defer { writeUnlock() }
        try prepare(.write)
        let base = buffer.baseAddress
        let count = buffer.count
        let flags = Int32(MSG_NOSIGNAL)
        return try await retrying(.write, address == nil ? "send" : "sendto") {
            if let address {
                return NetpollError.minusErrno(address.withSockaddr { sa, len in Glibc.sendto(sysfd, base, count, flags, sa, len) })
            }
            return cnp_send(sysfd, base, UInt(count), flags)
        }
    }
}
