/// The head of one HTTP/1.1 request (RFC 9112 §2–§6) at the start of a buffer: the
/// request line split into method, target and version, each header line into name
/// and value, and what the server needs from them (body length, keep-alive).
///
/// Strict where leniency would let two parsers disagree about where a request
/// ends: lines end in CRLF, no space before a header's colon, no folded lines, one
/// Content-Length, one Host (required from HTTP/1.1 on, as Go's net/http requires
/// it). Not handled: chunked bodies (Transfer-Encoding is refused).
struct RequestHead {
    /// One header line, split at its first colon; the value without surrounding blanks.
    struct Field {
        var name: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
    }

    enum Parse {
        case incomplete  // no blank line yet: read more
        case malformed  // answer 400 and close
        case complete(RequestHead)
    }

    var method: ArraySlice<UInt8>
    var target: ArraySlice<UInt8>
    /// The minor version of HTTP/1.x.
    var minorVersion: Int
    var fields: [Field] = []
    /// Bytes of the head, blank line included: where the body starts.
    var length: Int
    /// Bytes of body after the head.
    var contentLength = 0
    /// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes unless told `keep-alive`.
    var keepAlive: Bool

    static func parse(_ buffer: [UInt8]) -> Parse {
        guard let end = endOfHead(buffer) else { return .incomplete }
        var lines = Lines(buffer: buffer, end: end)
        guard let requestLine = lines.next(), var head = RequestHead(requestLine: requestLine, length: end + 4) else {
            return .malformed
        }
        var sawContentLength = false
        var sawHost = false
        var asksClose = false
        var asksKeepAlive = false
        while let line = lines.next() {
            guard let field = Field(line: line) else { return .malformed }
            head.fields.append(field)
            if field.name.equalsIgnoringCase("content-length") {
                guard !sawContentLength, let n = Int(decimal: field.value) else { return .malformed }
                sawContentLength = true
                head.contentLength = n
            } else if field.name.equalsIgnoringCase("host") {
                guard !sawHost else { return .malformed }
                sawHost = true
            } else if field.name.equalsIgnoringCase("transfer-encoding") {
                return .malformed  // chunked bodies are beyond this example
            } else if field.name.equalsIgnoringCase("connection") {
                for option in field.value.split(separator: UInt8(ascii: ",")) {
                    let option = option.trimmingBlanks()
                    if option.equalsIgnoringCase("close") { asksClose = true }
                    if option.equalsIgnoringCase("keep-alive") { asksKeepAlive = true }
                }
            }
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
        guard sawHost || head.minorVersion == 0 else { return .malformed }
        // `close` wins over `keep-alive`, in whichever order they come.
        head.keepAlive = !asksClose && (head.minorVersion >= 1 || asksKeepAlive)
        return .complete(head)
    }

    /// `method SP target SP HTTP/1.x`.
    private init?(requestLine line: ArraySlice<UInt8>, length: Int) {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isToken, !parts[1].isEmpty,
            !parts[1].contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else { return nil }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: "HTTP/1.".utf8), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(version[7]) else {
            return nil
        }
        method = parts[0]
        target = parts[1]
        minorVersion = Int(version[7] - UInt8(ascii: "0"))
        self.length = length
        keepAlive = true  // decided by parse(_:) once the Connection fields are read
    }

    /// The index of the "\r\n\r\n" that ends the head, if it has arrived.
    static func endOfHead(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        return nil
    }
}

extension RequestHead.Field {
    /// `name ":" OWS value OWS`; nil for a line without a colon, a name that is not
    /// a token (a space before the colon included), or a folded continuation line.
    init?(line: ArraySlice<UInt8>) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        name = line[..<colon]
        guard name.isToken else { return nil }
        value = line[(colon + 1)...].trimmingBlanks()
        guard !value.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else { return nil }
    }
}

/// The CRLF-terminated lines of a head, up to its blank line; nil after the last.
/// A bare CR or LF inside a line stays in it, and the checks above refuse it.
private struct Lines {
    let buffer: [UInt8]
    let end: Int
    var start = 0

    init(buffer: [UInt8], end: Int) {
        self.buffer = buffer
        self.end = end
    }

    mutating func next() -> ArraySlice<UInt8>? {
        guard start <= end else { return nil }
        var i = start
        while i < end && !(buffer[i] == 13 && buffer[i + 1] == 10) { i += 1 }
        defer { start = i + 2 }
        return buffer[start..<i]
    }
}

extension ArraySlice<UInt8> {
    /// RFC 9110 §5.6.2: one or more of the characters a method or header name may use.
    var isToken: Bool {
        !isEmpty && allSatisfy { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
        }
    }

    /// Without leading and trailing spaces and tabs (RFC 9110's OWS).
    func trimmingBlanks() -> ArraySlice<UInt8> {
        let blank = { (c: UInt8) in c == 0x20 || c == 0x09 }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    func equalsIgnoringCase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            // Only letters fold: `| 0x20` alone would also match CR (0x0D) with "-".
            zip(self, expected).allSatisfy { c, e in (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) ? c | 0x20 == e : c == e }
        }
    }
}

extension Int {
    /// A Content-Length: digits only, no sign, no overflow.
    init?(decimal digits: ArraySlice<UInt8>) {
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        self = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
