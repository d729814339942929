#if canImport(Glibc)
import Glibc
#endif

/// Raw socket calls the Net layer shares: create, options, names. Every failure
/// names its syscall.
enum Socket {
    /// A non-blocking, close-on-exec stream socket.
    static func stream(family: Int32) throws(NetpollError) -> Int32 {
        let fd = try NetpollError.check("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        }
        return try DescriptorLimit.admit(fd, from: "socket")
    }

    /// A non-blocking, close-on-exec datagram socket.
    static func datagram(family: Int32) throws(NetpollError) -> Int32 {
        let fd = try NetpollError.check("socket") {
            socket(family, Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        }
        return try DescriptorLimit.admit(fd, from: "socket")
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ what: String) throws(NetpollError) {
        var v = value
        try NetpollError.check("setsockopt(\(what))") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    static func getOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ what: String) throws(NetpollError) -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        try NetpollError.check("getsockopt(\(what))") { getsockopt(fd, level, name, &v, &len) }
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
        try NetpollError.check("bind(\(address))") { storage.withSockaddr { sa, len in bind(fd, sa, len) } }
        try NetpollError.check("listen") { listen(fd, backlog.map { Int32(clamping: $0) } ?? defaultBacklog) }
    }

    /// Go's default listen backlog: the kernel's somaxconn.
    static var defaultBacklog: Int32 {
        Int32(clamping: Sysctl.read("/proc/sys/net/core/somaxconn") ?? 4096)
    }
}
