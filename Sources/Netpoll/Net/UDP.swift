#if canImport(Glibc)
import Glibc
#endif

/// What one datagram read delivered (Go: the `n, addr` of `ReadFrom`, plus what Go
/// leaves out: whether the datagram was cut).
///
/// A datagram larger than the buffer it is read into is **never cut silently**: the
/// kernel discards the rest of it, ``isTruncated`` is true and ``length`` says how
/// large it really was, so a caller can tell a short message from a cut one and
/// retry with a larger buffer for the next. Read with a buffer of at least the
/// largest datagram the protocol can carry (65,507 bytes for UDP over IPv4) to
/// never see a truncation.
public struct ReceivedDatagram: Sendable, Hashable {
    /// Bytes stored at the start of the buffer.
    public let count: Int
    /// The datagram's size as sent; greater than ``count`` when truncated (the
    /// kernel reports the real size for UDP).
    public let length: Int
    /// True when the datagram did not fit: only the first ``count`` of its
    /// ``length`` bytes were delivered, the rest is gone (recvmsg's MSG_TRUNC).
    public let isTruncated: Bool
    /// Who sent it.
    public let sender: SocketAddress
}

/// A UDP socket (Go: net.UDPConn, which is a net.PacketConn), bound and unconnected
/// (``listen(host:port:reusePort:group:)``: read from and write to any address) or
/// connected (``connect(host:port:group:)``: ``read(into:)-(UnsafeMutableRawBufferPointer)``/``write(_:)-(UnsafeRawBufferPointer)`` with one
/// peer; the kernel drops datagrams from any other address).
///
/// Reads and writes go through the FD's loops and the PollDesc like TCP's: deadlines
/// (``setReadDeadline(_:)``), task cancellation and ``close()`` end a blocked read or
/// write in the same way and with the same errors. One datagram per call: a read
/// never returns part of one datagram and the rest later, and a write sends its
/// buffer as one datagram (EMSGSIZE when too large). A zero-length datagram is a
/// valid datagram (``ReceivedDatagram/count`` 0), not an end of stream: UDP has none.
public final class UDPConn: NetSocket {
    public let fd: FD
    /// Connected to one peer: ``writeTo(_:address:)`` is refused, as in Go
    /// (ErrWriteToConnected). Linux itself would send to the other address.
    let isConnected: Bool

    init(fd: FD, isConnected: Bool) {
        self.fd = fd
        self.isConnected = isConnected
    }

    /// The loop this socket's readiness is delivered on.
    public var loop: EventLoop { fd.loop }

    // MARK: opening

    /// Binds `host:port` (port 0: any free port; see ``localAddress``): Go's
    /// ListenUDP / ListenPacket("udp", …). `host` may be numeric, `localhost` or a
    /// name to resolve (the first address is used).
    public static func listen(
        host: String = "127.0.0.1", port: Int = 0, reusePort: Bool = false, group: LoopGroup? = nil
    ) async throws -> UDPConn {
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        return try await listen(on: addresses[0], reusePort: reusePort, group: group)
    }

    public static func listen(on address: SocketAddress, reusePort: Bool = false, group: LoopGroup? = nil) async throws -> UDPConn {
        guard address.family != AF_UNIX else { throw NetpollError.invalidAddress("UDP needs an IP address, not \(address)") }
        let g = try group ?? LoopGroup.shared()
        let sysfd = try Socket.datagram(family: address.family)
        do {
            if reusePort { try Socket.setOption(sysfd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
            if address.family == AF_INET6 {
                try Socket.setOption(sysfd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
            }
            let storage = address.storage
            try NetpollError.check("bind(\(address))") { storage.withSockaddr { sa, len in bind(sysfd, sa, len) } }
        } catch {
            Glibc.close(sysfd)
            throw error
        }
        return UDPConn(fd: try await FD.open(sysfd, loop: g.current ?? g.next(), isSocket: true), isConnected: false)
    }

    /// A UDP socket connected to `host:port` (Go: DialUDP): bound to an ephemeral
    /// local port, it sends to and receives from that peer only. UDP's connect(2)
    /// exchanges no packets, so this does not tell whether anyone listens: an ICMP
    /// "port unreachable" shows up later as ECONNREFUSED from a read or write.
    public static func connect(host: String, port: Int, group: LoopGroup? = nil) async throws -> UDPConn {
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        return try await connect(to: addresses[0], group: group)
    }

    public static func connect(to address: SocketAddress, group: LoopGroup? = nil) async throws -> UDPConn {
        guard address.family != AF_UNIX else { throw NetpollError.invalidAddress("UDP needs an IP address, not \(address)") }
        let g = try group ?? LoopGroup.shared()
        let sysfd = try Socket.datagram(family: address.family)
        let conn = UDPConn(fd: try await FD.open(sysfd, loop: g.current ?? g.next(), isSocket: true), isConnected: true)
        do {
            try await conn.fd.connect(to: address.storage)
        } catch {
            try? await conn.close()
            throw error
        }
        return conn
    }

    // MARK: reading

    /// Receives one datagram into `buffer` and says who sent it (Go: ReadFrom).
    /// See ``ReceivedDatagram`` for how a datagram larger than `buffer` is reported.
    public func readFrom(into buffer: UnsafeMutableRawBufferPointer) async throws -> ReceivedDatagram {
        let r = try await fd.receiveDatagram(into: buffer)
        guard let sender = SocketAddress(r.sender) else {
            throw NetpollError.invalidAddress("datagram from an address of family \(r.sender.family)")
        }
        return ReceivedDatagram(count: r.count, length: r.length, isTruncated: r.truncated, sender: sender)
    }

    /// Receives one datagram on a connected socket (Go: Read). The same as
    /// ``readFrom(into:)-(UnsafeMutableRawBufferPointer)``; the sender is always the connected peer.
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> ReceivedDatagram {
        try await readFrom(into: buffer)
    }

    // MARK: writing

    /// Sends `buffer` as one datagram to `address` (Go: WriteTo). Returns
    /// `buffer.count`. On a connected socket it throws `system("sendto", EISCONN)`
    /// (Go: ErrWriteToConnected).
    @discardableResult
    public func writeTo(_ buffer: UnsafeRawBufferPointer, address: SocketAddress) async throws -> Int {
        if isConnected { throw NetpollError.failed("sendto", errno: EISCONN) }
        return try await fd.sendDatagram(buffer, to: address.storage)
    }

    @discardableResult
    public func writeTo(_ bytes: some Collection<UInt8> & Sendable, address: SocketAddress) async throws -> Int {
        try await withCopy(of: bytes) { try await writeTo($0, address: address) }
    }

    /// Sends `buffer` as one datagram to the connected peer (Go: Write).
    @discardableResult
    public func write(_ buffer: UnsafeRawBufferPointer) async throws -> Int {
        try await fd.sendDatagram(buffer, to: nil)
    }

    @discardableResult
    public func write(_ bytes: some Collection<UInt8> & Sendable) async throws -> Int {
        try await withCopy(of: bytes) { try await write($0) }
    }

    private func withCopy(
        of bytes: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) async throws -> Int
    ) async throws -> Int {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        defer { buf.deallocate() }
        buf.copyBytes(from: bytes)
        return try await body(UnsafeRawBufferPointer(rebasing: buf[0..<bytes.count]))
    }

    // MARK: the rest of Go's PacketConn

    /// Closes the socket; a blocked read or write ends with ``NetpollError/netClosing``.
    public func close() async throws { try await fd.close() }

}
