import Netpoll
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server that answers every request with "Hello, world!":
/// `HTTPHelloServer [PORT]` (default 8080; 0 picks a free port).
///
/// Keep-alive as HTTP/1.1 defines it (a connection stays open unless the request
/// says `Connection: close`, or is HTTP/1.0 without `keep-alive`), pipelined
/// requests answered in order with one write per batch, request bodies with a
/// `Content-Length` skipped. A connection idle for 60 s is closed. Not a general
/// HTTP server: no chunked request bodies, no header size limit beyond 64 KiB.
@main struct HTTPHelloServer {
    static let body = Array("Hello, world!".utf8)
    static let keepAlive = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    static let closing = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
    static let badRequest = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    static let maxHead = 65536

    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
        let listener = try await TCPListener.listen(host: "127.0.0.1", port: port)
        print("listening on \(listener.address!)")
        fflush(nil)  // a parent reading our stdout through a pipe sees the line now
        try await listener.serve { conn in try await serve(conn) }
    }

    static func serve(_ conn: TCPConn) async throws {
        var buffer: [UInt8] = []
        var replies: [UInt8] = []
        while true {
            try conn.setReadDeadline(.now + .seconds(60))
            if try await conn.read(appendingTo: &buffer) == 0 { return }  // end of stream
            // Answer every complete request in the buffer (pipelining), in one write.
            var close = false
            while !close, let request = Request(parsing: buffer) {
                guard request.isValid else {
                    replies += badRequest
                    close = true
                    break
                }
                guard buffer.count >= request.length else { break }  // body still coming
                buffer.removeFirst(request.length)
                close = !request.keepAlive
                replies += close ? closing : keepAlive
            }
            if !replies.isEmpty {
                try await conn.write(replies)
                replies.removeAll(keepingCapacity: true)
            }
            if close || buffer.count > maxHead { return }
        }
    }
}

/// The head of one request at the start of a buffer: its length with the body,
/// and whether the connection stays open after it. Nil while the head is incomplete.
struct Request {
    var length = 0
    var keepAlive = true
    var isValid = true

    init?(parsing buffer: [UInt8]) {
        guard let end = Request.endOfHead(buffer) else { return nil }
        let lines = buffer[..<end].split(separator: UInt8(ascii: "\n")).map {
            String(decoding: $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0, as: UTF8.self)
        }
        guard let requestLine = lines.first, requestLine.split(separator: " ").count == 3 else {
            isValid = false
            return
        }
        keepAlive = requestLine.hasSuffix("HTTP/1.1")
        var bodyLength = 0
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingPrefix(" ").lowercased()
            if name == "connection" {
                if value.contains("close") { keepAlive = false }
                if value.contains("keep-alive") { keepAlive = true }
            } else if name == "content-length" {
                guard let n = Int(value), n >= 0 else { isValid = false; return }
                bodyLength = n
            } else if name == "transfer-encoding" {
                isValid = false  // chunked bodies are beyond this example
                return
            }
        }
        length = end + 4 + bodyLength
    }

    /// The index of the blank line's "\r\n\r\n", if the head is complete.
    static func endOfHead(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        return nil
    }
}
