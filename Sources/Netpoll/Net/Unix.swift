#if canImport(Glibc)
import Glibc
#endif

/// A Unix-domain stream connection (Go: net.UnixConn).
public final class UnixConn: Conn {
    public let fd: FD

    init(fd: FD) { self.fd = fd }

    public static func connect(path: String, timeout: Duration? = nil, group: LoopGroup? = nil) async throws -> UnixConn {
        let address = try SocketAddress(unixPath: path)
        return try await Dial.connect([address], timeout: timeout, group: group) { sysfd, loop in
            UnixConn(fd: try await FD.open(streamSocket: sysfd, loop: loop))
        }
    }
}

/// A Unix-domain stream listener (Go: net.UnixListener). The socket file it
/// creates is removed when it is closed.
public final class UnixListener: Listener {
    public let fd: FD
    public let group: LoopGroup
    /// Where accepted connections go: round-robin over the group's loops.
    private let spreader = LoopGroup.Spreader()
    public let path: String

    init(fd: FD, group: LoopGroup, path: String) {
        self.fd = fd
        self.group = group
        self.path = path
    }

    public static func listen(path: String, backlog: Int? = nil, group: LoopGroup? = nil) async throws -> UnixListener {
        let g = try group ?? LoopGroup.shared()
        let address = try SocketAddress(unixPath: path)
        let sysfd = try Socket.stream(family: AF_UNIX)
        do {
            try Socket.bindAndListen(sysfd, address, backlog: backlog)
        } catch {
            Glibc.close(sysfd)
            throw error
        }
        return UnixListener(fd: try await FD.open(streamSocket: sysfd, loop: g.current ?? g.next()), group: g, path: path)
    }

    public func accept() async throws -> UnixConn {
        let (sysfd, _) = try await fd.counted { try await fd.accept() }
        let loop = spreader.next(in: group)
        let conn = UnixConn(fd: try await FD.open(streamSocket: sysfd, loop: loop))
        loop.stats.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
        return conn
    }

    /// Closes the listener and removes its socket file.
    public func close() async throws {
        try await fd.close()
        unlink(path)
    }
}
