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

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `unix:/path` by the rules of the
    /// library's `SocketAddress(parsing:)` (see ``splitHostPort(_:)``). Hosts may
    /// be names (resolved once, here) but numeric addresses avoid any resolver
    /// surprise; a bracketed host must be a numeric IPv6 (or IPv4) address.
    public init(parsing text: String) throws(LoadError) {
        description = text
        if let path = try Self.unixPath(text) {
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
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
        hints.ai_flags = AI_NUMERICSERV | (text.hasPrefix("[") ? AI_NUMERICHOST : 0)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &result)
        guard status == 0, let first = result, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw .badArgument("cannot resolve --target \(text.debugDescription): \(reason)")
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

    /// Checks the form of a target without resolving it (the CLI does this while
    /// parsing its options): the rules of ``init(parsing:)``.
    public static func checkSyntax(_ text: String) throws(LoadError) {
        if try unixPath(text) == nil { _ = try splitHostPort(text) }
    }

    /// The path of a `unix:/path` target (1...107 bytes, as the library's rule),
    /// or nil for another form.
    static func unixPath(_ text: String) throws(LoadError) -> String? {
        guard text.hasPrefix("unix:") else { return nil }
        let path = String(text.dropFirst(5))
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard !path.isEmpty, path.utf8.count < capacity else {
            throw .invalidOption(name: "--target", value: text, allowed: "unix:PATH needs a path of 1 to \(capacity - 1) bytes")
        }
        return path
    }

    /// `127.0.0.1:80` → ("127.0.0.1", "80"); `[::1]:80` → ("::1", "80").
    ///
    /// The rules of the library's `SocketAddress(parsing:)` (Go's `SplitHostPort`),
    /// written again here because the load client must not share the code it
    /// measures (NetpollTools does not depend on Netpoll):
    /// - the port follows the last colon;
    /// - a host that contains a colon (IPv6) must be in brackets: `::1:80` is
    ///   ambiguous and rejected, `[::1]:80` is accepted;
    /// - the host is not empty (`:80` is rejected);
    /// - the port is a whole number, 1...65535 here (the library also takes 0,
    ///   which means "any port" only when listening).
    ///
    /// Unlike the library, a host may be a name (`localhost:80`).
    static func splitHostPort(_ text: String) throws(LoadError) -> (String, String) {
        func reject(_ allowed: String) -> LoadError { .invalidOption(name: "--target", value: text, allowed: allowed) }
        guard let colon = text.lastIndex(of: ":") else {
            throw reject("must be HOST:PORT, [IPv6]:PORT or unix:/path")
        }
        var host = text[..<colon]
        let port = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 {
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            throw reject("an IPv6 address must be in brackets: [HOST]:PORT")
        } else if host.contains("[") || host.contains("]") {
            throw reject("brackets must enclose the whole host: [HOST]:PORT")
        }
        guard !host.isEmpty else { throw reject("the host is missing: HOST:PORT") }
        guard let number = Int(port), (1...65535).contains(number) else {
            throw reject("the port must be a whole number from 1 to 65535")
        }
        return (String(host), String(number))
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
public enum LoadError: Error, Equatable, CustomStringConvertible {
    case badArgument(String)
    /// An option value outside its rule: the option, the value, what is allowed
    /// ("must be a whole number from 1 to 256"); shaped as the library's
    /// `NetpollError.invalidSetting`.
    case invalidOption(name: String, value: String, allowed: String)
    case cannotConnect(String)
    case system(String)

    public var description: String {
        switch self {
        case .badArgument(let text), .cannotConnect(let text), .system(let text): text
        case .invalidOption(let name, let value, let allowed): "invalid \(name) \(value.debugDescription): \(allowed)"
        }
    }
}
