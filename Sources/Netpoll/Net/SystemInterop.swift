import SystemPackage

// swift-system's types wherever a raw descriptor or errno crosses the API: the
// ecosystem's `FileDescriptor` and `Errno`. The `Int32` forms stay for C callers.

extension FD {
    /// The descriptor, as swift-system's type. It stays this FD's: close it with
    /// ``close()``, not through the `FileDescriptor`.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: sysfd) }

    /// ``open(_:loop:isSocket:)`` for a swift-system descriptor (a pipe end for
    /// ``Conn/splice(from:count:)-(FD,_)``, say). Takes ownership of it.
    public static func open(_ descriptor: FileDescriptor, loop: EventLoop, isSocket: Bool = true) async throws -> FD {
        try await open(descriptor.rawValue, loop: loop, isSocket: isSocket)
    }
}

extension NetSocket {
    /// The socket's descriptor, as swift-system's type (for socket options or
    /// `fstat` the library does not wrap). It stays the socket's: closing it behind
    /// the socket's back breaks the socket.
    public var descriptor: FileDescriptor { fd.descriptor }
}

extension NetpollError {
    /// The `errno` of a ``system(_:_:)`` error, as swift-system's `Errno` (for
    /// `catch` patterns such as `error.systemErrno == .connectionReset`); nil for
    /// the other cases.
    public var systemErrno: Errno? { errno.map { Errno(rawValue: $0) } }
}

extension Conn {
    /// ``sendFile(_:offset:count:)-(Int32,_,_)`` from a swift-system descriptor.
    @discardableResult
    public func sendFile(_ file: FileDescriptor, offset: Int64 = 0, count: Int64? = nil) async throws -> Int64 {
        try await sendFile(file.rawValue, offset: offset, count: count)
    }

    /// ``sendFile(_:offset:count:sent:)-(Int32,_,_,_)`` from a swift-system descriptor.
    public func sendFile(_ file: FileDescriptor, offset: Int64 = 0, count: Int64? = nil, sent: inout Int64) async throws {
        try await sendFile(file.rawValue, offset: offset, count: count, sent: &sent)
    }
}

// Adopting a descriptor made elsewhere (see Adopt.swift): a duplicate is adopted,
// `descriptor` stays the caller's.

extension TCPConn {
    /// ``adopting(_:group:)-(Int32,_)`` for a swift-system descriptor.
    public static func adopting(_ descriptor: FileDescriptor, group: LoopGroup? = nil) async throws -> TCPConn {
        try await adopting(descriptor.rawValue, group: group)
    }
}

extension TCPListener {
    /// ``adopting(_:group:)-(Int32,_)`` for a swift-system descriptor.
    public static func adopting(_ descriptor: FileDescriptor, group: LoopGroup? = nil) async throws -> TCPListener {
        try await adopting(descriptor.rawValue, group: group)
    }
}

extension UnixConn {
    /// ``adopting(_:group:)-(Int32,_)`` for a swift-system descriptor.
    public static func adopting(_ descriptor: FileDescriptor, group: LoopGroup? = nil) async throws -> UnixConn {
        try await adopting(descriptor.rawValue, group: group)
    }
}

extension UnixListener {
    /// ``adopting(_:group:)-(Int32,_)`` for a swift-system descriptor.
    public static func adopting(_ descriptor: FileDescriptor, group: LoopGroup? = nil) async throws -> UnixListener {
        try await adopting(descriptor.rawValue, group: group)
    }
}

extension UDPConn {
    /// ``adopting(_:group:)-(Int32,_)`` for a swift-system descriptor.
    public static func adopting(_ descriptor: FileDescriptor, group: LoopGroup? = nil) async throws -> UDPConn {
        try await adopting(descriptor.rawValue, group: group)
    }
}
