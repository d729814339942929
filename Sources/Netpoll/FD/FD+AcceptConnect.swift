import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Go: FD.Accept and netFD.connect.
extension FD {
    /// Go: FD.Accept. Returns a new non-blocking, close-on-exec descriptor (not yet
    /// registered; its peer's address is asked of the kernel when wanted, so no
    /// accept pays for it). ECONNABORTED (a connection reset while queued) is
    /// skipped; EMFILE/ENFILE are returned and the listener keeps working. A
    /// connection that would land in ``DescriptorLimit/reserve`` is closed at once
    /// and reported as EMFILE.
    func accept() async throws -> Int32 {
        try await readLock()
        defer { readUnlock() }
        try prepare(.read)
        if ringReceive { return try await acceptRing() }
        let s = try await retrying(.read, "accept4", alsoRetry: ECONNABORTED) { cnp_accept4(sysfd, nil, nil) }
        // Never keep a connection in the descriptors reserved for the runtime.
        return try DescriptorLimit.admit(s, from: "accept4")
    }

    /// ``accept()`` on a listener the ring accepts on (``URingPoller/Feature/accept``):
    /// Go's loop, with "try" first a dequeue of what the multishot ACCEPT queued, and
    /// accept4(2) only while no ACCEPT is in the kernel (`ringState` off: before the
    /// first wait, or after the ACCEPT ended). The two never need ordering between
    /// them — connections are independent — but keeping them apart means an idle
    /// listener with a running ACCEPT makes no system call at all. The loop admits
    /// (DescriptorLimit) each descriptor the ACCEPT hands up before queueing it.
    private func acceptRing() async throws -> Int32 {
        while true {
            if let s = try attemptRingAccept() { return s }
            try await wait(.read)
        }
    }

    private func attemptRingAccept() throws -> Int32? {
        let state = pd.ringState.load(ordering: .acquiring)
        switch pd.takeAccepted() {
        case .accepted(let s): return s
        case .failed(let e): throw NetpollError.failed("accept", errno: e)
        case .empty: break
        }
        guard state == PollDesc.ringOff else { return nil }
        if let s = try attempt(.read, "accept4", alsoRetry: ECONNABORTED, { cnp_accept4(sysfd, nil, nil) }) {
            return try DescriptorLimit.admit(s, from: "accept4")
        }
        askLoopForReceive()
        return nil
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
