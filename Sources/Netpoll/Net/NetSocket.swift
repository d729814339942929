#if canImport(Glibc)
import Glibc
#endif

/// What every socket of the Net layer has, stream or datagram (the methods Go's
/// net.Conn and net.PacketConn share): deadlines, addresses, buffer sizes.
public protocol NetSocket: Sendable {
    /// The underlying pollable descriptor.
    var fd: FD { get }
}

extension NetSocket {
    /// Deadlines (Go: SetDeadline/SetReadDeadline/SetWriteDeadline). A deadline is an
    /// instant; nil clears it. One in the past fails pending and future operations
    /// at once with ``NetpollError/deadlineExceeded`` (``NetpollError/isTimeout``),
    /// even when data is ready. Changing it while an operation waits takes effect
    /// for that operation.
    public func setDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .readWrite)
    }

    public func setReadDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .read)
    }

    public func setWriteDeadline(_ deadline: ContinuousClock.Instant?) throws {
        try fd.setDeadline(deadline.map { $0 - .now }, .write)
    }

    /// Deadlines a time from now (Go: `SetDeadline(time.Now().Add(d))`); nil clears,
    /// zero or less fails operations at once, as a deadline in the past does. The
    /// form for a server that sets one before each operation: no instant is made,
    /// so an async caller keeps no `ContinuousClock.Instant` temporaries (a type of
    /// unknown size to the compiler, held in task-allocator memory: two allocations
    /// per message in an echo handler).
    public func setDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .readWrite)
    }

    public func setReadDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .read)
    }

    public func setWriteDeadline(after timeout: Duration?) throws {
        try fd.setDeadline(timeout, .write)
    }

    public var localAddress: SocketAddress? { Socket.localAddress(fd.sysfd) }
    /// The connected peer; nil for an unconnected (datagram) socket.
    public var remoteAddress: SocketAddress? { Socket.remoteAddress(fd.sysfd) }

    /// SO_RCVBUF / SO_SNDBUF (the kernel doubles what it is given). A datagram
    /// socket whose receive buffer fills drops datagrams: UDP has no flow control.
    ///
    /// Shrinking a connected TCP socket's receive buffer well below 64 KiB can
    /// stall it: the peer has seen the larger window, keeps a segment size (half the
    /// largest window seen) above any window this side can offer again, and Linux
    /// then sends one segment per zero-window probe, 200 ms apart. Small buffers
    /// belong on a socket before its handshake: on the listening socket
    /// (`listener.fd.descriptor`) before connections arrive, which inherit them, or on
    /// a client socket before it connects, then adopted (``TCPConn/adopting(_:group:)-(Int32,_)``).
    public func setReadBuffer(_ bytes: Int) throws {
        try Socket.setOption(fd.sysfd, SOL_SOCKET, SO_RCVBUF, Int32(clamping: bytes), "SO_RCVBUF")
    }

    public func setWriteBuffer(_ bytes: Int) throws {
        try Socket.setOption(fd.sysfd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: bytes), "SO_SNDBUF")
    }
}
