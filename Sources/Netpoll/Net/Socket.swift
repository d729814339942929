#if canImport(Glibc)
import Glibc
#endif

/// Raw socket calls the Net layer shares: create, options, names. Every failure
/// names its syscall.
enum Socket {
    /// A non-blocking, close-on-exec stream socket.
    static func stream(family: Int32) throws(NetpollError) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .system("socket", errno) }
        return try DescriptorLimit.admit(fd, from: "socket")
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ what: String) throws(NetpollError) {
        var v = value
        if setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) < 0 {
            throw .system("setsockopt(\(what))", errno)
        }
    }

    static func getOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ what: String) throws(NetpollError) -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, level, name, &v, &len) < 0 { throw .system("getsockopt(\(what))", errno) }
        return v
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var s = SocketAddressStorage()
        let rc = s.withMutableSockaddr { sa, len in getsockname(fd, sa, len) }
        return rc == 0 ? SocketAddress(s) : nil
    }

    static func remoteAddress(_ fd: Int32) -> SocketAddress? {
        var s = SocketAddressStorage()
        let rc = s.withMutableSockaddr { sa, len in getpeername(fd, sa, len) }
        return rc == 0 ? SocketAddress(s) : nil
    }

    /// bind(2) then listen(2); `backlog` nil means the kernel's somaxconn.
    static func bindAndListen(_ fd: Int32, _ address: SocketAddress, backlog: Int?) throws(NetpollError) {
        let storage = address.storage
        if storage.withSockaddr({ sa, len in bind(fd, sa, len) }) < 0 {
            throw .system("bind(\(address))", errno)
        }
        if listen(fd, backlog.map { Int32(clamping: $0) } ?? defaultBacklog) < 0 {
            throw .system("listen", errno)
        }
    }

    /// Go's default listen backlog: the kernel's somaxconn.
    static var defaultBacklog: Int32 {
        Int32(clamping: Backend.readSysctl("/proc/sys/net/core/somaxconn") ?? 4096)
    }
}
