import HTTPTypes

extension HTTPResponse {
    /// The response as HTTP/1.1 bytes, appended to `out`: status line,
    /// `Content-Length` of `body` (unless the fields carry one), the header fields
    /// in their order, blank line, body.
    ///
    /// Content-Length goes first because Go's net/http writes it first among the
    /// fields the handlers set (Content-Length, Content-Type), and scripts/bench-http
    /// checks that every server answers the same bytes.
    public func write(body: [UInt8], to out: inout [UInt8]) {
        out += "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n".utf8
        if !headerFields.contains(.contentLength) {
            out += "Content-Length: \(body.count)\r\n".utf8
        }
        for field in headerFields {
            out += field.name.rawName.utf8
            out += ": ".utf8
            out += field.value.utf8
            out += "\r\n".utf8
        }
        out += "\r\n".utf8
        out += body
    }

    /// The answer to a request the server refuses: the status, no body, and
    /// `Connection: close`, since after a refused request the rest of the stream
    /// cannot be trusted to start where a next request does.
    public static func refusing(_ status: Status) -> HTTPResponse {
        HTTPResponse(status: status, headerFields: [.connection: "close"])
    }
}
