import HTTPTypes

/// What the server accepts before it refuses a request.
public enum Limits {
    /// The longest request head (request line, header fields, blank line), and the
    /// longest trailer section of a chunked body: 431 past it.
    public static let maxHead = 64 * 1024
    /// The largest request body, either framing: 413 past it. The example drops
    /// bodies, but a server that keeps them needs a bound, and so does the test.
    public static let maxBody = 1024 * 1024
}

/// The requests of one connection, one after another as their bytes arrive: each
/// head parsed (``RequestHead``), its body read and dropped (Content-Length or
/// ``ChunkedBody``), and only then the request handed out, so that pipelined
/// requests come out in order, each once, and a body that looks like a request is
/// never taken for one.
public struct RequestReader: Sendable {
    public enum Event: Sendable {
        /// A whole request, its body already dropped: answer it.
        case request(RequestHead)
        /// Answer with this status and close; the reader hands out nothing more.
        case failed(HTTPResponse.Status)
    }

    private enum State {
        case head
        case body(RequestHead, left: Int)
        case chunked(RequestHead, ChunkedBody)
        case failed
    }

    public let maxHead: Int
    public let maxBody: Int
    private var state = State.head

    public init(maxHead: Int = Limits.maxHead, maxBody: Int = Limits.maxBody) {
        self.maxHead = maxHead
        self.maxBody = maxBody
    }

    /// The next event from `bytes[offset...]`, moving `offset` past what it used;
    /// nil when more bytes are needed (or after a failure). Body bytes are used as
    /// they come, so the caller can drop `bytes[..<offset]` after every read and
    /// hold no more than one unfinished head or line.
    public mutating func next(_ bytes: [UInt8], at offset: inout Int) -> Event? {
        while true {
            switch state {
            case .failed:
                return nil
            case .head:
                switch RequestHead.parse(bytes[offset...], maxLength: maxHead) {
                case .incomplete:
                    return nil
                case .failed(let status):
                    return fail(status)
                case .complete(let head):
                    offset += head.length
                    switch head.body {
                    case .length(let n) where n > maxBody:
                        // Before any of the body is read: the client may still be waiting to send it.
                        return fail(.contentTooLarge)
                    case .length(let n):
                        state = .body(head, left: n)
                    case .chunked:
                        state = .chunked(head, ChunkedBody(maxBody: maxBody, maxTrailers: maxHead))
                    }
                }
            case .body(let head, let left):
                let n = min(left, bytes.count - offset)
                offset += n
                guard n == left else {
                    state = .body(head, left: left - n)
                    return nil
                }
                state = .head
                return .request(head)
            case .chunked(let head, var body):
                let progress = body.consume(bytes, at: &offset)
                switch progress {
                case .needsMore:
                    state = .chunked(head, body)
                    return nil
                case .failed(let status):
                    return fail(status)
                case .done:
                    state = .head
                    return .request(head)
                }
            }
        }
    }

    private mutating func fail(_ status: HTTPResponse.Status) -> Event {
        state = .failed
        return .failed(status)
    }
}
