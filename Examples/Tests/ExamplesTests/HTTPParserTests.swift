import HTTPHello
import HTTPTypes
import Testing

/// The HTTP example's request reader and response writer, called directly: what
/// each byte sequence becomes, without a server or a socket.
@Suite struct HTTPParserTests {
    static let get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    /// Every event `text` gives, fed at once: "METHOD target" per request, the
    /// status code for a refusal.
    static func events(_ text: String, _ reader: RequestReader = RequestReader()) -> [String] {
        events(Array(text.utf8), reader)
    }

    static func events(_ bytes: [UInt8], _ reader: RequestReader = RequestReader()) -> [String] {
        var reader = reader
        var offset = 0
        var out: [String] = []
        while let event = reader.next(bytes, at: &offset) { out.append(describe(event)) }
        return out
    }

    /// The same, fed one byte at a time and dropping what was used after each, as
    /// the server drops it after each read.
    static func eventsByteByByte(_ text: String, _ reader: RequestReader = RequestReader()) -> [String] {
        var reader = reader
        var buffer: [UInt8] = []
        var out: [String] = []
        for byte in text.utf8 {
            buffer.append(byte)
            var offset = 0
            while let event = reader.next(buffer, at: &offset) { out.append(describe(event)) }
            buffer.removeFirst(offset)
        }
        return out
    }

    static func describe(_ event: RequestReader.Event) -> String {
        switch event {
        case .request(let head): "\(head.request.method) \(head.request.path ?? head.request.authority ?? "-")"
        case .failed(let status): "\(status.code)"
        }
    }

    static func head(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> RequestHead {
        guard case .complete(let head) = RequestHead.parse(Array(text.utf8)[...]) else {
            Issue.record("not a complete head: \(text.debugDescription)", sourceLocation: sourceLocation)
            throw ParseFailed()
        }
        return head
    }

    struct ParseFailed: Error {}

    // MARK: Heads

    @Test func aHeadBecomesAnHTTPRequest() throws {
        let text = "GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Two: a\r\nx-two: b\r\n\r\n"
        let head = try Self.head(text)
        #expect(head.request.method == .get)
        #expect(head.request.scheme == "http")
        #expect(head.request.authority == "example.com")
        #expect(head.request.path == "/x?y=1")
        #expect(head.request.headerFields[.accept] == "*/*")
        #expect(head.request.headerFields[values: HTTPField.Name("X-Two")!] == ["a", "b"])
        // Host is the authority, not a header field, as in HTTP/2.
        #expect(head.request.headerFields[HTTPField.Name("Host")!] == nil)
        #expect(head.minorVersion == 1)
        #expect(head.length == text.utf8.count)
        #expect(head.body == .length(0))
        #expect(head.keepAlive)
    }

    @Test func aConnectRequestHasAnAuthorityAndNoPath() throws {
        let head = try Self.head("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        #expect(head.request.method == .connect)
        #expect(head.request.authority == "example.com:443")
        #expect(head.request.path == nil)
    }

    @Test func everyTruncatedHeadIsIncomplete() {
        let text = Array("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n".utf8)
        for cut in 0..<text.count {
            guard case .incomplete = RequestHead.parse(text[..<cut]) else {
                Issue.record("\(cut) bytes were taken for more than a partial head")
                continue
            }
        }
        #expect(Self.events(text) == [])  // its body has not come
        #expect(Self.events(text + Array("abc".utf8)) == ["POST /p"])
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", true),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
    ])
    func keepAliveIsDecidedByVersionAndConnection(text: String, keepAlive: Bool) throws {
        #expect(try Self.head(text).keepAlive == keepAlive)
    }

    @Test(arguments: [
        "nonsense\r\n\r\n",  // no method, target, version
        "\r\n",  // no request line
        "GET /\r\n\r\n",  // no version
        "GET / HTTP/2.0\r\n\r\n",  // not HTTP/1.x
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",  // two spaces
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",  // a method that is not a token
        "GET /\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n",  // a control byte in the target
        "GET / HTTP/1.1\r\nHost localhost\r\n\r\n",  // a header without a colon
        "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",  // a space before the colon
        "GET / HTTP/1.1\r\n: no-name\r\nHost: a\r\n\r\n",  // an empty name
        "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",  // HTTP/1.1 without Host
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
        "GET / HTTP/1.1\r\nHost: a\r\nX: \u{1}\r\n\r\n",  // a control byte in a value
    ])
    func aMalformedHeadIs400(text: String) {
        #expect(Self.events(text + Self.get) == ["400"])
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rInjected: b\r\n\r\n",  // bare CR in a value
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\nInjected: b\r\n\r\n",  // bare LF in a value
        "GET / HTTP/1.1\r\nHost: a\r\nX\r: a\r\n\r\n",  // bare CR in a name
        "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",  // bare CR in the request line
        "GET / HTTP/1.1\nHost: a\n\n",  // LF-only line ends
        "GET / HTTP/1.1\r\nHost: a\r\n\n",  // a bare LF for the blank line
    ])
    func aBareCROrLFInTheHeadIs400AtOnce(text: String) {
        // At once, from the bytes before the blank line: no waiting for a CRLFCRLF that may never come.
        #expect(Self.events(text) == ["400"])
        #expect(Self.eventsByteByByte(text) == ["400"])
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n",  // folded with a space
        "GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n\ttwo\r\n\r\n",  // folded with a tab
        "GET / HTTP/1.1\r\n Host: a\r\n\r\n",  // whitespace before the first field
    ])
    func aFoldedLineIs400(text: String) {
        #expect(Self.events(text) == ["400"])
    }

    // MARK: Framing

    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",  // negative
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",  // a sign
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",  // empty
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // conflicting fields
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n",  // a conflicting list
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",  // past Int
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",  // both framings
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",  // both, other order
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",  // an unknown coding
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",  // a coding before chunked
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",  // chunked twice
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n",  // empty
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",  // HTTP/1.0 has no chunked
    ])
    func aBadFramingIs400(text: String) {
        #expect(Self.events(text + "0\r\n\r\n" + Self.get) == ["400"])
    }

    @Test func equalContentLengthsAreOneLength() throws {
        #expect(try Self.head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n").body == .length(5))
        #expect(try Self.head("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nContent-Length: 5\r\n\r\n").body == .length(5))
        #expect(try Self.head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").body == .chunked)
    }

    @Test func aContentLengthBodyIsDroppedNotParsed() {
        // The body is a request of its own: still one request, then the real next one.
        let body = "GET /inside HTTP/1.1\r\nHost: a\r\n\r\n"
        let text = "POST /outer HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(Self.events(text) == ["POST /outer", "GET /next"])
        #expect(Self.eventsByteByByte(text) == ["POST /outer", "GET /next"])
    }

    @Test func chunkedBodiesWithExtensionsAndTrailersAreDropped() {
        let text = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n"
            + "1A;name=value;other\r\n" + String(repeating: "x", count: 26) + "\r\n"
            + "a ; spaced\r\n0123456789\r\n"
            // Chunk data that looks like the end of the body and a request.
            + "26\r\n0\r\n\r\nGET /inside HTTP/1.1\r\nHost: a\r\n\r\n\r\n"
            + "0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(Self.events(text) == ["POST /c", "GET /next"])
        #expect(Self.eventsByteByByte(text) == ["POST /c", "GET /next"])
    }

    @Test func aChunkedBodyIsNotAnsweredBeforeItsLastChunkAndTrailers() {
        let text = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n"
        #expect(Self.events(text) == [])
        #expect(Self.events(text + "\r\n") == ["POST /c"])
    }

    @Test(arguments: [
        "\r\n",  // no size
        "x\r\n",  // not hex
        "-1\r\n",  // a sign
        "+5\r\n",
        "0x5\r\n",  // a C prefix
        " 5\r\n",  // a blank first
        "5 x\r\n",  // junk after the size that is not an extension
        "1000000000000000\r\n",  // 16 hex digits: past what an Int holds
        "5;a\rb\r\nhello\r\n0\r\n\r\n",  // a bare CR in an extension
        "5;a\nb\r\nhello\r\n0\r\n\r\n",  // a bare LF in an extension
        "5\r\nhelloX\r\n0\r\n\r\n",  // data longer than its size
        "0\r\nX-T: a\rb\r\n\r\n",  // a bare CR in a trailer
        "0\r\nX-T: a\nb\r\n\r\n",  // a bare LF in a trailer
        "0\r\nnot a field\r\n\r\n",  // a trailer without a colon
        "0\r\n folded\r\n\r\n",  // a folded trailer
    ])
    func aBadChunkIs400(chunks: String) {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + Self.get
        #expect(Self.events(text) == ["400"])
        #expect(Self.eventsByteByByte(text) == ["400"])
    }

    @Test func anEndlessChunkSizeLineIs400WithoutItsEnd() {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" + String(repeating: "e", count: ChunkedBody.maxSizeLine)
        #expect(Self.events(text) == ["400"])
    }

    // MARK: Limits

    @Test func aHeadOverTheLimitIs431() {
        let reader = RequestReader(maxHead: 64, maxBody: 100)
        let exact = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 64 - 32) + "\r\n\r\n"
        #expect(exact.utf8.count == 64)
        #expect(Self.events(exact, reader) == ["GET /"])
        let over = exact.replacingOccurrences(of: "X: ", with: "X: v")
        #expect(Self.events(over, reader) == ["431"])
        #expect(Self.eventsByteByByte(over, reader) == ["431"])
        // One without an end is refused once it passes the limit, not left to grow.
        let endless = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 40)
        #expect(Self.events(endless, reader) == ["431"])
    }

    @Test func theDefaultHeadLimitIs64KiB() {
        let padding = { (n: Int) in "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: n) + "\r\n\r\n" }
        let exact = padding(Limits.maxHead - 32)
        #expect(exact.utf8.count == 65536)
        #expect(Self.events(exact) == ["GET /"])
        #expect(Self.events(padding(Limits.maxHead - 31)) == ["431"])
    }

    @Test func aContentLengthOverTheLimitIs413BeforeTheBody() {
        let reader = RequestReader(maxHead: 1024, maxBody: 10)
        #expect(Self.events("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789" + Self.get, reader) == ["POST /", "GET /"])
        // No byte of the body needs to have come.
        #expect(Self.events("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", reader) == ["413"])
        #expect(Self.events("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(Limits.maxBody + 1)\r\n\r\n") == ["413"])
    }

    @Test func aChunkedBodyOverTheLimitIs413() {
        let reader = RequestReader(maxHead: 1024, maxBody: 10)
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(Self.events(head + "6\r\nabcdef\r\n4\r\nabcd\r\n0\r\n\r\n", reader) == ["POST /"])
        // The chunk that passes the limit is refused on its size line, before its data.
        #expect(Self.events(head + "6\r\nabcdef\r\n5\r\n", reader) == ["413"])
        #expect(Self.events(head + "fffffffffffffff\r\n", reader) == ["413"])
        #expect(Self.events(head + "100001\r\n") == ["413"])
    }

    @Test func trailersOverTheHeadLimitAre431() {
        let reader = RequestReader(maxHead: 100, maxBody: 100)
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(Self.events(head + "X: " + String(repeating: "t", count: 80) + "\r\n\r\n", reader) == ["POST /"])
        #expect(Self.events(head + "X: " + String(repeating: "t", count: 120) + "\r\n\r\n", reader) == ["431"])
        #expect(Self.events(head + "X: " + String(repeating: "t", count: 120), reader) == ["431"])
    }

    // MARK: Pipelining

    @Test func pipelinedRequestsComeOutInOrderEachOnce() {
        let text = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
            + "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            + "DELETE /4 HTTP/1.1\r\nHost: a\r\n\r\n"
            + "GET /5 HTTP/1.1\r\nHost: a\r\n\r\n"
        let expected = ["GET /1", "POST /2", "PUT /3", "DELETE /4", "GET /5"]
        #expect(Self.events(text) == expected)
        #expect(Self.eventsByteByByte(text) == expected)
    }

    @Test func nothingFollowsARefusal() {
        // A good request after a bad one is not answered: the stream is no longer trusted.
        #expect(Self.events(Self.get + "BAD\r\n\r\n" + Self.get + Self.get) == ["GET /", "400"])
    }

    // MARK: Responses

    @Test func aResponseIsWrittenWithItsContentLengthFirst() {
        var out: [UInt8] = []
        HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain", .connection: "close"]).write(body: Array("Hello".utf8), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello")
    }

    @Test(arguments: [
        (HTTPResponse.Status.badRequest, "400 Bad Request"),
        (.requestHeaderFieldsTooLarge, "431 Request Header Fields Too Large"),
        (.contentTooLarge, "413 Content Too Large"),
    ])
    func aRefusalClosesAndHasNoBody(status: HTTPResponse.Status, line: String) {
        var out: [UInt8] = []
        HTTPResponse.refusing(status).write(body: [], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "HTTP/1.1 \(line)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
