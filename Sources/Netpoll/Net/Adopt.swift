#if canImport(Glibc)
import Glibc
#endif

/// Adopting a descriptor made elsewhere (Go: net.FileConn, net.FileListener,
/// net.FilePacketConn): one end of a socketpair, a listener inherited from a parent
/// or passed by systemd (`LISTEN_FDS`, descriptors from 3).
///
/// As in Go, the caller's descriptor stays the caller's: it is duplicated
/// (F_DUPFD_CLOEXEC) and the duplicate is what the connection owns and closes, so
/// the caller closes its own when it no longer needs it. The duplicate is made
/// non-blocking — and O_NONBLOCK belongs to the open file description, which both
/// descriptors share, so the caller's becomes non-blocking too (Go's FileConn does
/// the same). Checked before anything is created: that it is open (EBADF), a
/// socket (ENOTSOCK), of the right type and family, and listening or not as the
/// adopting type needs (``NetpollError/invalidDescriptor(_:)`` says what it is).
enum Adopt {
    struct Expectation {
        var type: Int32
        var families: [Int32]
        var listening: Bool?
        var what: String
    }

    static let tcpConn = Expectation(type: Int32(SOCK_STREAM.rawValue), families: [AF_INET, AF_INET6], listening: false, what: "a connected TCP socket")
    static let tcpListener = Expectation(type: Int32(SOCK_STREAM.rawValue), families: [AF_INET, AF_INET6], listening: true, what: "a listening TCP socket")
    static let unixConn = Expectation(type: Int32(SOCK_STREAM.rawValue), families: [AF_UNIX], listening: false, what: "a connected Unix stream socket")
    static let unixListener = Expectation(type: Int32(SOCK_STREAM.rawValue), families: [AF_UNIX], listening: true, what: "a listening Unix stream socket")
    static let udp = Expectation(type: Int32(SOCK_DGRAM.rawValue), families: [AF_INET, AF_INET6], listening: nil, what: "a UDP socket")

    /// Checks `descriptor` against `expected`, then returns a non-blocking,
    /// close-on-exec duplicate of it.
    static func duplicate(_ descriptor: Int32, as expected: Expectation) throws(NetpollError) -> Int32 {
        let type = try Socket.getOption(descriptor, SOL_SOCKET, SO_TYPE, "SO_TYPE")
        let family = try Socket.getOption(descriptor, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN")
        let listening = try Socket.getOption(descriptor, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") != 0
        guard type == expected.type, expected.families.contains(family), expected.listening.map({ $0 == listening }) ?? true else {
            throw .invalidDescriptor(
                "descriptor \(descriptor) is a \(listening ? "listening " : "")\(describe(type: type, family: family)) socket; expected \(expected.what)")
        }
        let dup = try NetpollError.check("fcntl(F_DUPFD_CLOEXEC)") { fcntl(descriptor, F_DUPFD_CLOEXEC, 0) }
        do {
            let flags = try NetpollError.check("fcntl(F_GETFL)") { fcntl(dup, F_GETFL) }
            try NetpollError.check("fcntl(F_SETFL, O_NONBLOCK)") { fcntl(dup, F_SETFL, flags | O_NONBLOCK) }
            return try DescriptorLimit.admit(dup, from: "fcntl(F_DUPFD_CLOEXEC)")
        } catch {
            Glibc.close(dup)
            throw error
        }
    }

    private static func describe(type: Int32, family: Int32) -> String {
        let f: String
        switch family {
        case AF_INET: f = "IPv4"
        case AF_INET6: f = "IPv6"
        case AF_UNIX: f = "Unix"
        default: f = "family \(family)"
        }
        let t: String
        switch type {
        case Int32(SOCK_STREAM.rawValue): t = "stream"
        case Int32(SOCK_DGRAM.rawValue): t = "datagram"
        case Int32(SOCK_SEQPACKET.rawValue): t = "seqpacket"
        default: t = "type \(type)"
        }
        return "\(f) \(t)"
    }
}

extension TCPConn {
    /// A connection from a connected TCP socket made elsewhere (Go: net.FileConn).
    /// `descriptor` stays the caller's (see `Adopt`); its socket options are kept
    /// as they are (no Go defaults applied).
    public static func adopting(_ descriptor: Int32, group: LoopGroup? = nil) async throws -> TCPConn {
        let g = try group ?? LoopGroup.shared()
        let dup = try Adopt.duplicate(descriptor, as: Adopt.tcpConn)
        return TCPConn(fd: try await FD.open(streamSocket: dup, loop: g.current ?? g.next(), role: .connection))
    }
}

extension TCPListener {
    /// A listener from a listening TCP socket made elsewhere — inherited, or passed
    /// by systemd socket activation (Go: net.FileListener). `descriptor` stays the
    /// caller's (see `Adopt`).
    public static func adopting(_ descriptor: Int32, group: LoopGroup? = nil) async throws -> TCPListener {
        let g = try group ?? LoopGroup.shared()
        let dup = try Adopt.duplicate(descriptor, as: Adopt.tcpListener)
        return TCPListener(fd: try await FD.open(streamSocket: dup, loop: g.current ?? g.next(), role: .listener), group: g)
    }
}

extension UnixConn {
    /// A connection from a connected Unix stream socket made elsewhere: one end of
    /// a socketpair(2), or one passed over SCM_RIGHTS (Go: net.FileConn).
    public static func adopting(_ descriptor: Int32, group: LoopGroup? = nil) async throws -> UnixConn {
        let g = try group ?? LoopGroup.shared()
        let dup = try Adopt.duplicate(descriptor, as: Adopt.unixConn)
        return UnixConn(fd: try await FD.open(streamSocket: dup, loop: g.current ?? g.next(), role: .connection))
    }
}

extension UnixListener {
    /// A listener from a listening Unix socket made elsewhere (Go: net.FileListener).
    /// Closing it does not remove the socket file: that belongs to whoever made it.
    public static func adopting(_ descriptor: Int32, group: LoopGroup? = nil) async throws -> UnixListener {
        let g = try group ?? LoopGroup.shared()
        let dup = try Adopt.duplicate(descriptor, as: Adopt.unixListener)
        let path: String
        if case .unix(let p)? = Socket.localAddress(dup)?.kind { path = p } else { path = "" }
        return UnixListener(
            fd: try await FD.open(streamSocket: dup, loop: g.current ?? g.next(), role: .listener), group: g, path: path,
            unlinksOnClose: false)
    }
}

extension UDPConn {
    /// A UDP socket made elsewhere, bound or connected (Go: net.FilePacketConn).
    public static func adopting(_ descriptor: Int32, group: LoopGroup? = nil) async throws -> UDPConn {
        let g = try group ?? LoopGroup.shared()
        let dup = try Adopt.duplicate(descriptor, as: Adopt.udp)
        let connected = Socket.remoteAddress(dup) != nil
        return UDPConn(fd: try await FD.open(dup, loop: g.current ?? g.next(), isSocket: true), isConnected: connected)
    }
}
