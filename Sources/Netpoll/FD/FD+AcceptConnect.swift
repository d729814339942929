import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Go: FD.Accept and netFD.connect.
extension FD {
    /// Go: FD.Accept. Returns a new non-blocking, close-on-exec descriptor (not yet
    /// registered) and the peer address bytes. ECONNABORTED (a connection reset
    /// while queued) is skipped; EMFILE/ENFILE are returned and the listener keeps
    /// working. A connection that would land in ``DescriptorLimit/reserve`` is
    /// closed at once and reported as EMFILE.
    func accept() async throws -> (Int32, SocketAddressStorage) {
        try await readLock()
        defer { readUnlock() }
        try prepare(.read)
        var addr = SocketAddressStorage()
        let s = try await retrying(.read, "accept4", alsoRetry: ECONNABORTED) {
            addr = SocketAddressStorage()
            return addr.withMutableSockaddr { sa, len in cnp_accept4(sysfd, sa, len) }
        }
        // Never keep a connection in the descriptors reserved for the runtime.
        return (try DescriptorLimit.admit(s, from: "accept4"), addr)
    }

    /// Go: netFD.connect. Starts a non-blocking connect and waits for it: EINPROGRESS
    /// → wait for write → SO_ERROR (a wakeup with SO_ERROR 0 is checked with
    /// getpeername, since pollers may wake spuriously).
    func connect(to address: SocketAddressStorage) async throws {
        try await writeLock()
        defer { writeUnlock() }
        countSyscall()
        let rc = address.withSockaddr { sa, len in Glibc.connect(sysfd, sa, len) }
        var e = rc < 0 ? errno : 0
        // An interrupted connect continues in the background; wait for it below.
        if e == EINTR { e = EINPROGRESS }
        switch e {
        case 0, EISCONN:
            return
        case EINPROGRESS, EALREADY:
            break
        default:
            throw NetpollError.failed("connect", errno: e)
        }
        // No prepare (pollReset) here, as in Go's netFD.connect: the completion may
        // already have been reported (merged with the registration's edge) before
        // this line, and clearing that `ready` would park forever. A stale `ready`
        // from registration is harmless: SO_ERROR/getpeername below retry.
        while true {
            try await wait(.write)
            #if FaultInjection
            if injectedEarlyConnectWake() { continue }
            #endif
            var soerr: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            try NetpollError.check("getsockopt(SO_ERROR)") { getsockopt(sysfd, SOL_SOCKET, SO_ERROR, &soerr, &len) }
            switch soerr {
            case EINPROGRESS, EALREADY, EINTR:
                continue
            case EISCONN:
                return
            case 0:
                var peer = SocketAddressStorage()
                let ok = peer.withMutableSockaddr { sa, l in getpeername(sysfd, sa, l) }
                if ok == 0 { return }
                continue
            default:
                throw NetpollError.failed("connect", errno: soerr)
            }
        }
    }
}
