import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection (Go: net.TCPConn). TCP_NODELAY is on and keep-alive probes
/// start after 15 s idle, as Go sets them.
public final class TCPConn: Conn {
    public let fd: FD

    init(fd: FD) { self.fd = fd }

    /// Adopts a connected socket: Go's defaults (unless it has them already), then
    /// registration with `loop`.
    static func adopt(_ sysfd: Int32, loop: EventLoop, hasDefaults: Bool = false) async throws -> TCPConn {
        if !hasDefaults {
            do {
                try applyDefaults(sysfd)
            } catch {
                Glibc.close(sysfd)
                throw error
            }
        }
        return TCPConn(fd: try await FD.open(streamSocket: sysfd, loop: loop, role: .connection))
    }

    /// Go's defaults, (level, option, value): what `applyDefaults` sets and
    /// `hasDefaults` checks.
    private static let defaults: [(Int32, Int32, Int32, String)] = [
        (Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY"),
        (SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"),
        (Int32(IPPROTO_TCP), TCP_KEEPIDLE, 15, "TCP_KEEPIDLE"),
        (Int32(IPPROTO_TCP), TCP_KEEPINTVL, 15, "TCP_KEEPINTVL"),
    ]

    static func applyDefaults(_ sysfd: Int32) throws(NetpollError) {
        for (level, name, value, what) in defaults {
            try Socket.setOption(sysfd, level, name, value, what)
        }
    }

    /// Whether `sysfd` has every one of Go's defaults set.
    static func hasDefaults(_ sysfd: Int32) -> Bool {
        defaults.allSatisfy { level, name, value, what in (try? Socket.getOption(sysfd, level, name, what)) == value }
    }

    /// Dials `host:port`: resolves (never on a loop thread), then tries each address
    /// in turn until one connects. `timeout` bounds the whole dial; when it passes
    /// the error is ``NetpollError/deadlineExceeded``.
    public static func connect(
        host: String, port: Int, timeout: Duration? = nil, group: LoopGroup? = nil
    ) async throws -> TCPConn {
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        return try await Dial.connect(addresses, timeout: timeout, group: group) { sysfd, loop in
            try await adopt(sysfd, loop: loop)
        }
    }

    public static func connect(to address: SocketAddress, timeout: Duration? = nil, group: LoopGroup? = nil) async throws -> TCPConn {
        try await Dial.connect([address], timeout: timeout, group: group) { sysfd, loop in
            try await adopt(sysfd, loop: loop)
        }
    }

    public func setNoDelay(_ on: Bool) throws {
        try Socket.setOption(fd.sysfd, Int32(IPPROTO_TCP), TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY")
    }

    /// Keep-alive on/off (Go: SetKeepAlive); `idle` also sets the period, as
    /// ``setKeepAlivePeriod(_:)``.
    public func setKeepAlive(_ on: Bool, idle: Duration? = nil) throws {
        try Socket.setOption(fd.sysfd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "SO_KEEPALIVE")
        if on, let idle { try setKeepAlivePeriod(idle) }
    }

    /// How long the connection stays idle before the first keep-alive probe, and
    /// the time between probes (Go: SetKeepAlivePeriod sets both, TCP_KEEPIDLE and
    /// TCP_KEEPINTVL). Whole seconds, at least 1 (the kernel's unit).
    public func setKeepAlivePeriod(_ period: Duration) throws {
        let secs = Int32(clamping: max(1, period.components.seconds))
        try Socket.setOption(fd.sysfd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, secs, "TCP_KEEPIDLE")
        try Socket.setOption(fd.sysfd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, secs, "TCP_KEEPINTVL")
    }

    /// What close does with data not yet sent (Go: SetLinger, SO_LINGER):
    /// - nil (the default): close returns at once; the kernel goes on sending
    ///   what is queued, then the FIN, in the background.
    /// - `.zero`: close discards what is unsent and resets the connection (RST):
    ///   the peer's next read fails with ECONNRESET.
    /// - a positive duration (whole seconds): close(2) itself waits up to that long
    ///   for the queued data to be acknowledged. Linux waits even on a non-blocking
    ///   socket, and the close runs on the connection's loop thread, so that loop
    ///   stalls for as long: prefer nil or `.zero` in a server.
    public func setLinger(_ timeout: Duration?) throws {
        var l = linger(l_onoff: 0, l_linger: 0)
        if let timeout {
            l.l_onoff = 1
            l.l_linger = Int32(clamping: max(0, timeout.components.seconds))
        }
        let sysfd = fd.sysfd
        try NetpollError.check("setsockopt(SO_LINGER)") {
            setsockopt(sysfd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        }
    }
}

/// A TCP listener (Go: net.TCPListener).
public final class TCPListener: Listener {
    public let fd: FD
    public let group: LoopGroup
    /// Where accepted connections go: round-robin over the group's loops.
    private let spreader = LoopGroup.Spreader()
    /// Whether accepted sockets come with Go's defaults (see `acceptedHaveDefaults`).
    private let inheritance: Atomic<UInt8>
    private static let inheritanceUnknown: UInt8 = 0
    private static let inherited: UInt8 = 1
    private static let notInherited: UInt8 = 2

    /// `defaultsSet`: the listening socket has Go's connection defaults itself
    /// (set by `listen`), so accepted sockets may inherit them.
    init(fd: FD, group: LoopGroup, defaultsSet: Bool = false) {
        self.fd = fd
        self.group = group
        self.inheritance = Atomic(defaultsSet ? Self.inheritanceUnknown : Self.notInherited)
    }

    /// Listens on `host:port` (port 0: any free port; see ``address``). `host` may be
    /// numeric, `localhost` (binds 127.0.0.1) or a name to resolve. `backlog` defaults
    /// to the kernel's somaxconn; `reusePort` sets SO_REUSEPORT so several listeners
    /// can share the port.
    public static func listen(
        host: String = "127.0.0.1", port: Int = 0, backlog: Int? = nil, reusePort: Bool = false,
        group: LoopGroup? = nil
    ) async throws -> TCPListener {
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        return try await listen(on: addresses[0], backlog: backlog, reusePort: reusePort, group: group)
    }

    public static func listen(
        on address: SocketAddress, backlog: Int? = nil, reusePort: Bool = false, group: LoopGroup? = nil
    ) async throws -> TCPListener {
        let g = try group ?? LoopGroup.shared()
        let sysfd = try Socket.stream(family: address.family)
        do {
            try Socket.setOption(sysfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            // Set once here rather than four setsockopt(2) per accepted connection:
            // Linux copies them into each socket it accepts (checked on the first
            // one, see acceptedHaveDefaults). On a listening socket they do nothing.
            try TCPConn.applyDefaults(sysfd)
            if reusePort { try Socket.setOption(sysfd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
            if address.family == AF_INET6 {
                try Socket.setOption(sysfd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
            }
            try Socket.bindAndListen(sysfd, address, backlog: backlog)
        } catch {
            Glibc.close(sysfd)
            throw error
        }
        let loop = g.current ?? g.next()
        return TCPListener(
            fd: try await FD.open(streamSocket: sysfd, loop: loop, role: .listener), group: g, defaultsSet: true)
    }

    public func accept() async throws -> TCPConn {
        let sysfd = try await fd.counted { try await fd.accept() }
        let loop = spreader.next(in: group)
        let conn = try await TCPConn.adopt(sysfd, loop: loop, hasDefaults: acceptedHaveDefaults(sysfd))
        loop.stats.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
        return conn
    }

    /// Whether accepted sockets arrive with Go's defaults already. Linux clones an
    /// accepted socket from its listener, options included, but no manual page
    /// promises it: the first connection is checked with getsockopt(2) and the
    /// answer kept. Racing first accepts each check, and agree. A listener adopted
    /// from elsewhere keeps the options it came with, so its connections get the
    /// defaults one by one, as dialled ones do.
    private func acceptedHaveDefaults(_ sysfd: Int32) -> Bool {
        switch inheritance.load(ordering: .relaxed) {
        case Self.inherited: return true
        case Self.notInherited: return false
        default:
            let has = TCPConn.hasDefaults(sysfd)
            inheritance.store(has ? Self.inherited : Self.notInherited, ordering: .relaxed)
            return has
        }
    }
}
