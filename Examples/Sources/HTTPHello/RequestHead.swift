import HTTPTypes

/// The head of one HTTP/1.1 request (RFC 9112 §2–§6) at the start of a buffer, as
/// swift-http-types' `HTTPRequest`, and what the connection needs from it: how
/// the body is framed and whether to keep the connection.
///
/// Strict where leniency would let two parsers disagree about where a request
/// ends (request smuggling): every line ends in CRLF and a bare CR or LF anywhere
/// in the head is refused, no space before a header's colon, no folded lines,
/// never Content-Length and Transfer-Encoding together, Content-Length values all
/// equal, `chunked` the only transfer coding, one Host (required from HTTP/1.1
/// on, as Go's net/http requires it).
public struct RequestHead: Sendable {
    /// How the body after the head ends.
    public enum Body: Equatable, Sendable {
        /// This many bytes; 0 for a request without a body.
        case length(Int)
        /// Chunks up to a zero-size one and the trailer section (``ChunkedBody``).
        case chunked
    }

    public enum Parse: Sendable {
        /// No blank line yet: read more.
        case incomplete
        case complete(RequestHead)
        /// 400 for a malformed head, 431 for one over the limit: answer and close.
        case failed(HTTPResponse.Status)
    }

    /// Host is not among its header fields: it is the `authority`, as HTTP/2's
    /// `:authority` is (swift-http-types' model of a request, and NIO's conversion).
    public var request: HTTPRequest
    /// The minor version of HTTP/1.x.
    public var minorVersion: Int
    /// Bytes of the head, blank line included: where the body starts.
    public var length: Int
    public var body: Body
    /// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes unless
    /// told `keep-alive`; `close` wins over `keep-alive`.
    public var keepAlive: Bool

    /// The head at the start of `bytes`, at most `maxLength` bytes long.
    public static func parse(_ bytes: ArraySlice<UInt8>, maxLength: Int = Limits.maxHead) -> Parse {
        let end: Int
        switch scan(bytes, maxLength: maxLength) {
        case .incomplete: return .incomplete
        case .failed(let status): return .failed(status)
        case .end(let e): end = e
        }
        // Every line of bytes[..<end] ends in CRLF and holds no other CR (scan saw to
        // it), so a line runs to the next CR; the blank line's CR is at end - 2.
        // Walked in place: no array of lines per request.
        let blank = end - 2
        var next = bytes.startIndex
        func nextLine() -> ArraySlice<UInt8>? {
            guard next < blank else { return nil }
            let lineEnd = bytes[next..<blank].firstIndex(of: cr)!
            defer { next = lineEnd + 2 }
            return bytes[next..<lineEnd]
        }
        guard let requestLine = nextLine(), let line = RequestLine(requestLine) else { return .failed(.badRequest) }

        var fields = HTTPFields()
        var contentLength: Int?
        var chunked = false
        var hosts: [ArraySlice<UInt8>] = []
        var asksClose = false
        var asksKeepAlive = false
        while let line = nextLine() {
            guard let field = FieldLine(line), let name = HTTPField.Name(String(decoding: field.name, as: UTF8.self)) else {
                return .failed(.badRequest)
            }
            switch name {
            case .contentLength:
                // "5, 5" or two fields of 5 are one length (RFC 9112 §6.3); any other mix is refused.
                let values = field.value.listElements()
                guard !values.isEmpty else { return .failed(.badRequest) }
                for value in values {
                    guard let n = Int(decimal: value), contentLength == nil || contentLength == n else { return .failed(.badRequest) }
                    contentLength = n
                }
            case .transferEncoding:
                // Exactly one coding, `chunked`: any other is one this server cannot undo,
                // so it could not find where the body ends.
                let codings = field.value.listElements()
                guard !chunked, codings.count == 1, codings[0].equalsIgnoringCase("chunked") else { return .failed(.badRequest) }
                chunked = true
            case hostName:
                hosts.append(field.value)
                continue  // it becomes the authority
            case .connection:
                for option in field.value.listElements() {
                    if option.equalsIgnoringCase("close") { asksClose = true }
                    if option.equalsIgnoringCase("keep-alive") { asksKeepAlive = true }
                }
            default:
                break
            }
            fields.append(HTTPField(name: name, value: field.value))
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any with two, gets 400.
        guard hosts.count == 1 || (hosts.isEmpty && line.minorVersion == 0) else { return .failed(.badRequest) }
        // §6.1: both framings at once is how smuggling starts; HTTP/1.0 has no chunked.
        guard !chunked || (contentLength == nil && line.minorVersion >= 1) else { return .failed(.badRequest) }

        let target = String(decoding: line.target, as: UTF8.self)
        let request: HTTPRequest
        if line.method == .connect {
            // authority-form: the target is the authority, and there is no path.
            request = HTTPRequest(method: line.method, scheme: nil, authority: target, path: nil, headerFields: fields)
        } else {
            let authority = hosts.first.map { String(decoding: $0, as: UTF8.self) }
            request = HTTPRequest(method: line.method, scheme: "http", authority: authority, path: target, headerFields: fields)
        }
        return .complete(
            RequestHead(
                request: request,
                minorVersion: line.minorVersion,
                length: end - bytes.startIndex,
                body: chunked ? .chunked : .length(contentLength ?? 0),
                keepAlive: !asksClose && (line.minorVersion >= 1 || asksKeepAlive)
            ))
    }

    /// swift-http-types marks `.host` unavailable to steer users to the authority,
    /// which is what the parser turns it into.
    private static let hostName = HTTPField.Name("Host")!

    private enum Scan {
        case incomplete
        case failed(HTTPResponse.Status)
        /// The index just past the blank line's CRLF.
        case end(Int)
    }

    /// Finds the blank line that ends the head, refusing a bare CR or LF on the way
    /// (at once: a client that ends lines in LF alone gets its 400 now, not when
    /// the limit or the idle timeout runs out) and a head longer than `maxLength`.
    private static func scan(_ bytes: ArraySlice<UInt8>, maxLength: Int) -> Scan {
        let start = bytes.startIndex
        var lineStart = start
        var i = start
        while i < bytes.endIndex {
            // Even if a blank line started here, the head would be too long.
            guard i - start < maxLength else { return .failed(.requestHeaderFieldsTooLarge) }
            switch bytes[i] {
            case lf:
                return .failed(.badRequest)  // every LF of a CRLF is stepped over below
            case cr:
                guard i + 1 < bytes.endIndex else { return .incomplete }
                guard bytes[i + 1] == lf else { return .failed(.badRequest) }
                if i == lineStart {
                    return i + 2 - start > maxLength ? .failed(.requestHeaderFieldsTooLarge) : .end(i + 2)
                }
                i += 2
                lineStart = i
            default:
                i += 1
            }
        }
        return .incomplete
    }
}

/// `method SP request-target SP HTTP/1.x` (RFC 9112 §3).
private struct RequestLine {
    var method: HTTPRequest.Method
    var target: ArraySlice<UInt8>
    var minorVersion: Int

    init?(_ line: ArraySlice<UInt8>) {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        // A target is visible ASCII: no blank, no control, no byte that UTF-8
        // decoding would change into something else.
        guard parts.count == 3, parts[0].isToken, !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
            let method = HTTPRequest.Method(String(decoding: parts[0], as: UTF8.self))
        else { return nil }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: "HTTP/1.".utf8), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(version[7]) else {
            return nil
        }
        self.method = method
        target = parts[1]
        minorVersion = Int(version[7] - UInt8(ascii: "0"))
    }
}
