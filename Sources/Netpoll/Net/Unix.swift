import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// A Unix-domain stream connection (Go: net.UnixConn).
public final class UnixConn: Conn {
    public let fd: FD

    init(fd: FD) { self.fd = fd }

    /// Dials a socket file, or an abstract-namespace name written `@name`.
    public static func connect(path: String, timeout: Duration? = nil, group: LoopGroup? = nil) async throws -> UnixConn {
        let address = try SocketAddress(unixPath: path)
        return try await Dial.connect([address], timeout: timeout, group: group) { sysfd, loop in
            UnixConn(fd: try await FD.open(streamSocket: sysfd, loop: loop, role: .connection))
        }
    }

    /// Who is at the other end (SO_PEERCRED): the process, user and group that
    /// connected (for an accepted connection) or that listened (for a dialled
    /// one), as the kernel recorded them at connect(2) — not forgeable by the
    /// peer, which is what lets a local service authenticate its clients. The pid
    /// may since have exited (or been reused); uid and gid are the ones to trust.
    public var peerCredentials: PeerCredentials {
        get throws(NetpollError) {
            var pid: Int32 = 0
            var uid: UInt32 = 0
            var gid: UInt32 = 0
            let rc = cnp_peer_credentials(fd.sysfd, &pid, &uid, &gid)
            try NetpollError.checkNegated("getsockopt(SO_PEERCRED)", rc)
            return PeerCredentials(pid: pid, uid: uid, gid: gid)
        }
    }
}

/// The credentials of a Unix socket's peer (Linux `struct ucred`).
public struct PeerCredentials: Sendable, Hashable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
}

/// A Unix-domain stream listener (Go: net.UnixListener). The socket file it
/// creates is removed when it is closed (an abstract `@name` has no file).
public final class UnixListener: Listener {
    public let fd: FD
    public let group: LoopGroup
    /// Where accepted connections go: round-robin over the group's loops.
    private let spreader = LoopGroup.Spreader()
    public let path: String
    /// Go: UnixListener.SetUnlinkOnClose; false for an adopted listener (the file
    /// is its creator's) and for an abstract name.
    private let unlinksOnClose: Bool

    init(fd: FD, group: LoopGroup, path: String, unlinksOnClose: Bool) {
        self.fd = fd
        self.group = group
        self.path = path
        self.unlinksOnClose = unlinksOnClose
    }

    /// Listens on a socket file at `path`, or on an abstract-namespace name
    /// (`@name`, Linux only: no file, no permissions).
    ///
    /// `mode` (e.g. `0o600`: only this user may connect) is the socket file's
    /// permission bits, in force before any client can connect. Why there is no
    /// window: bind(2) creates the file with the process umask's mode, but a Unix
    /// stream socket that is bound and not yet listening refuses every connect(2)
    /// (ECONNREFUSED, whatever the file's mode). The mode is set between bind and
    /// listen, so by the time the socket accepts connections its file already has
    /// it; connect(2) checks write permission on the file at each attempt. Nothing
    /// process-wide (umask) is touched, so other threads are unaffected.
    public static func listen(
        path: String, mode: mode_t? = nil, backlog: Int? = nil, group: LoopGroup? = nil
    ) async throws -> UnixListener {
        let g = try group ?? LoopGroup.shared()
        let address = try SocketAddress(unixPath: path)
        if mode != nil && address.isAbstract {
            throw NetpollError.invalidAddress("\(path): an abstract socket has no file, so no mode; anyone in the network namespace may connect")
        }
        let sysfd = try Socket.stream(family: AF_UNIX)
        do {
            let storage = address.storage
            try NetpollError.check("bind(\(address))") { storage.withSockaddr { sa, len in bind(sysfd, sa, len) } }
            if let mode {
                do {
                    try NetpollError.check("chmod(\(path))") { chmod(path, mode) }
                } catch {
                    unlink(path)
                    throw error
                }
            }
            try NetpollError.check("listen") { Glibc.listen(sysfd, backlog.map { Int32(clamping: $0) } ?? Socket.defaultBacklog) }
        } catch {
            Glibc.close(sysfd)
            throw error
        }
        return UnixListener(
            fd: try await FD.open(streamSocket: sysfd, loop: g.current ?? g.next(), role: .listener), group: g, path: path,
            unlinksOnClose: !address.isAbstract)
    }

    public func accept() async throws -> UnixConn {
        let sysfd = try await fd.counted { try await fd.accept() }
        let loop = spreader.next(in: group)
        let conn = UnixConn(fd: try await FD.open(streamSocket: sysfd, loop: loop, role: .connection))
        loop.stats.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
        return conn
    }

    /// Closes the listener and removes its socket file (not for an abstract name
    /// or an adopted listener).
    public func close() async throws {
        try await fd.close()
        if unlinksOnClose { unlink(path) }
    }
}
