import CNetpoll
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4, IPv6 or Unix-domain socket address.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case ipv4(UInt32, port: UInt16)  // address in host byte order
        case ipv6([UInt8], port: UInt16, scope: UInt32)
        case unix(String)
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// A numeric IPv4 or IPv6 address (`127.0.0.1`, `::1`, `[::1]`) and a port.
    /// Host names are not looked up here; see ``resolve(host:port:)``.
    public init(ip: String, port: Int) throws(NetpollError) {
        guard (0...65535).contains(port) else { throw .invalidAddress("port \(port) out of range 0...65535") }
        var host = ip
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            kind = .ipv4(UInt32(bigEndian: v4.s_addr), port: UInt16(port))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            kind = .ipv6(bytes, port: UInt16(port), scope: 0)
            return
        }
        throw .invalidAddress("\"\(ip)\" is not an IPv4 or IPv6 address")
    }

    /// A Unix-domain address: a file system path, or — starting with `@`, as Go and
    /// ss(8) write it — a name in Linux's abstract namespace (`@name`: no file, gone
    /// when the last socket bound to it closes; any process in the same network
    /// namespace may connect, there are no permissions).
    public init(unixPath path: String) throws(NetpollError) {
        // sun_path holds 108 bytes: a path and its terminating NUL, or an abstract
        // name after a leading NUL (the `@`) with no terminator.
        guard !path.isEmpty, path.utf8.count < 108, path != "@" else {
            throw .invalidAddress("unix socket path must be 1...107 bytes (an abstract @name 1...106): \"\(path)\"")
        }
        kind = .unix(path)
    }

    /// An abstract-namespace Unix address (`@name`).
    public var isAbstract: Bool {
        if case .unix(let path) = kind { return path.hasPrefix("@") }
        return false
    }

    /// Parses `HOST:PORT`, `[V6]:PORT` or `unix:/path` with a numeric host.
    public init(parsing text: String) throws(NetpollError) {
        if text.hasPrefix("unix:") {
            try self.init(unixPath: String(text.dropFirst(5)))
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw .invalidAddress("\"\(text)\" has no port (expected HOST:PORT)")
        }
        let host = String(text[..<colon])
        // Go's SplitHostPort: an IPv6 host must be bracketed ("::1:80" is ambiguous).
        if host.contains(":") && !(host.hasPrefix("[") && host.hasSuffix("]")) {
            throw .invalidAddress("\"\(text)\": IPv6 address must be in brackets ([HOST]:PORT)")
        }
        guard let port = Int(text[text.index(after: colon)...]) else {
            throw .invalidAddress("\"\(text)\": port is not a number")
        }
        try self.init(ip: host, port: port)
    }

    public var port: Int? {
        switch kind {
        case .ipv4(_, let p), .ipv6(_, let p, _): return Int(p)
        case .unix: return nil
        }
    }

    public var host: String {
        switch kind {
        case .ipv4(let a, _):
            return "\(a >> 24).\((a >> 16) & 0xff).\((a >> 8) & 0xff).\(a & 0xff)"
        case .ipv6(let bytes, _, _):
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var v6 = in6_addr()
            withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: bytes) }
            _ = inet_ntop(AF_INET6, &v6, &buf, socklen_t(buf.count))
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case .unix(let path):
            return path
        }
    }

    public var description: String {
        switch kind {
        case .ipv4(_, let p): return "\(host):\(p)"
        case .ipv6(_, let p, _): return "[\(host)]:\(p)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    var family: Int32 {
        switch kind {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    var storage: SocketAddressStorage {
        var s = SocketAddressStorage()
        withUnsafeMutableBytes(of: &s.storage) { raw in
            switch kind {
            case .ipv4(let a, let p):
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = p.bigEndian
                sin.sin_addr.s_addr = a.bigEndian
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
                s.length = socklen_t(MemoryLayout<sockaddr_in>.size)
            case .ipv6(let bytes, let p, let scope):
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = p.bigEndian
                sin6.sin6_scope_id = scope
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
                s.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            case .unix(let path):
                var sun = sockaddr_un()
                sun.sun_family = sa_family_t(AF_UNIX)
                var utf8 = Array(path.utf8)
                // Abstract: a NUL in place of the `@`, and the length (not a NUL) ends
                // the name — every byte up to it is part of the name.
                let abstract = utf8.first == UInt8(ascii: "@")
                if abstract { utf8[0] = 0 }
                withUnsafeMutableBytes(of: &sun.sun_path) { dst in
                    dst.copyBytes(from: utf8)
                    if !abstract { dst[utf8.count] = 0 }
                }
                withUnsafeBytes(of: sun) { raw.copyMemory(from: $0) }
                s.length = socklen_t(MemoryLayout<sa_family_t>.size + utf8.count + (abstract ? 0 : 1))
            }
        }
        return s
    }

    init?(_ s: SocketAddressStorage) {
        switch s.family {
        case AF_INET:
            let sin = withUnsafeBytes(of: s.storage) { $0.loadUnaligned(as: sockaddr_in.self) }
            kind = .ipv4(UInt32(bigEndian: sin.sin_addr.s_addr), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = withUnsafeBytes(of: s.storage) { $0.loadUnaligned(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            kind = .ipv6(bytes, port: UInt16(bigEndian: sin6.sin6_port), scope: sin6.sin6_scope_id)
        case AF_UNIX:
            let pathLen = Int(s.length) - MemoryLayout<sa_family_t>.size
            let path: String = withUnsafeBytes(of: s.storage) { raw in
                guard pathLen > 0 else { return "" }  // unnamed (socketpair, unbound)
                let bytes = raw[MemoryLayout<sa_family_t>.size..<(MemoryLayout<sa_family_t>.size + pathLen)]
                if bytes.first == 0 { return "@" + String(decoding: bytes.dropFirst(), as: UTF8.self) }
                return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            kind = .unix(path)
        default:
            return nil
        }
    }

    // MARK: resolution

    /// Addresses for `host`: numeric addresses and `localhost` (127.0.0.1 then ::1)
    /// without a lookup; anything else through getaddrinfo on a Dispatch thread, so
    /// no event loop thread ever blocks on DNS.
    public static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        if let numeric = try? SocketAddress(ip: host, port: port) { return [numeric] }
        guard (0...65535).contains(port) else { throw NetpollError.invalidAddress("port \(port) out of range 0...65535") }
        if host.isEmpty { return [try SocketAddress(ip: "0.0.0.0", port: port)] }
        if host == "localhost" {
            return [try SocketAddress(ip: "127.0.0.1", port: port), try SocketAddress(ip: "::1", port: port)]
        }
        let found: [SocketAddress] = try await withUnsafeThrowingContinuation { c in
            DispatchQueue.global().async {
                let r = getaddrinfoBlocking(host: host, port: port)
                c.releaseToTask()
                c.resume(with: r)
            }
        }
        acquireFromResumer()
        return found
    }

    private static func getaddrinfoBlocking(host: String, port: Int) -> Result<[SocketAddress], any Error> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            let why = rc == 0 ? "no addresses" : String(cString: gai_strerror(rc))
            return .failure(NetpollError.invalidAddress("lookup \(host): \(why)"))
        }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var cur: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cur {
            var s = SocketAddressStorage()
            let len = min(Int(ai.pointee.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
            withUnsafeMutableBytes(of: &s.storage) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(start: ai.pointee.ai_addr, count: len))
            }
            s.length = socklen_t(len)
            if let a = SocketAddress(s), !out.contains(a) { out.append(a) }
            cur = ai.pointee.ai_next
        }
        return out.isEmpty ? .failure(NetpollError.invalidAddress("lookup \(host): no addresses")) : .success(out)
    }
}
