import Glibc

/// Where the load client connects: a resolved socket address plus the text the
/// user gave, for error messages ("cannot connect to 127.0.0.1:1: ...").
public struct Endpoint: Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case tcp, unix }

    public let kind: Kind
    public let description: String
    let family: Int32
    /// The raw address, copied into each connect call (sockaddr_storage fits all families).
    let storage: sockaddr_storage
    let length: socklen_t

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `unix:/path`. Hosts may be names
    /// (resolved once, here) but numeric addresses avoid any resolver surprise.
    public init(parsing text: String) throws(LoadError) {
        description = text
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard !path.isEmpty, path.utf8.count < capacity else {
                throw .badArgument("unix socket path must be 1...\(capacity - 1) bytes: \(text)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: address) { raw.copyMemory(from: $0) }
            }
            self.kind = .unix
            self.family = AF_UNIX
            self.storage = storage
            self.length = socklen_t(MemoryLayout<sockaddr_un>.size)
            return
        }

        let (host, port) = try Self.splitHostPort(text)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &result)
        guard status == 0, let first = result, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw .badArgument("cannot resolve \(text): \(reason)")
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(first.pointee.ai_addrlen)))
        }
        self.kind = .tcp
        self.family = first.pointee.ai_family
        self.storage = storage
        self.length = first.pointee.ai_addrlen
    }

    /// `127.0.0.1:80` → ("127.0.0.1", "80"); `[::1]:80` → ("::1", "80").
    static func splitHostPort(_ text: String) throws(LoadError) -> (String, String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":") else {
                throw .badArgument("target must look like [IPv6]:PORT: \(text)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .badArgument("target must be HOST:PORT, [IPv6]:PORT or unix:/path: \(text)")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let number = UInt16(port), number > 0 else {
            throw .badArgument("target must be HOST:PORT with a port in 1...65535: \(text)")
        }
        return (String(host), String(port))
    }

    /// Calls `body` with the address as the `sockaddr` pointer the socket calls want.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// Why a load run could not happen at all (bad arguments, nothing reachable).
/// Failures *during* a run are counted, not thrown.
public enum LoadError: Error, CustomStringConvertible {
    case badArgument(String)
    case cannotConnect(String)
    case system(String)

    public var description: String {
        switch self {
        case .badArgument(let text), .cannotConnect(let text), .system(let text): text
        }
    }
}
