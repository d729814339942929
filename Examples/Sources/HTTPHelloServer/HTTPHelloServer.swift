import Netpoll
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server that answers every request with "Hello, World!":
/// `HTTPHelloServer [PORT]` (default 8080; 0 picks a free port).
///
/// Each request head is parsed (``RequestHead``: request line, header fields,
/// Content-Length, Connection); a body is read and dropped before the answer.
/// Keep-alive as HTTP/1.1 defines it (a connection stays open unless the request
/// says `Connection: close`, or is HTTP/1.0 without `keep-alive`), pipelined
/// requests answered in order with one write per batch, a malformed request (or a
/// head over 64 KiB) answered 400 and closed. A connection idle for 60 s is closed.
/// The response bytes are those of the Go and NIO servers scripts/bench-http
/// compares it with: Go's header order, no Date.
@main struct HTTPHelloServer {
    static let body = Array("Hello, World!".utf8)
    static let headers = "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\nContent-Type: text/plain\r\n"
    static let keepAlive = Array((headers + "\r\n").utf8) + body
    /// HTTP/1.0 closes by default, so a 1.0 client that asked to keep it is told it was.
    static let keepAlive10 = Array((headers + "Connection: keep-alive\r\n\r\n").utf8) + body
    static let closing = Array((headers + "Connection: close\r\n\r\n").utf8) + body
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
        var current: RequestHead?  // parsed, answered once its body is dropped
        var bodyLeft = 0
        while true {
            try conn.setReadDeadline(.now + .seconds(60))
            if try await conn.read(appendingTo: &buffer) == 0 { return }  // end of stream
            // Answer every complete request in the buffer (pipelining), in one write.
            var close = false
            requests: while !close {
                let dropped = min(bodyLeft, buffer.count)
                buffer.removeFirst(dropped)
                bodyLeft -= dropped
                if bodyLeft > 0 { break }  // more body to come
                if let head = current {
                    replies += !head.keepAlive ? closing : head.minorVersion == 0 ? keepAlive10 : keepAlive
                    close = !head.keepAlive
                    current = nil
                    continue
                }
                switch RequestHead.parse(buffer) {
                case .incomplete:
                    guard buffer.count > maxHead else { break requests }
                    replies += badRequest
                    close = true
                case .malformed:
                    replies += badRequest
                    close = true
                case .complete(let head):
                    buffer.removeFirst(head.length)
                    bodyLeft = head.contentLength
                    current = head
                }
            }
            if !replies.isEmpty {
                try await conn.write(replies)
                replies.removeAll(keepingCapacity: true)
            }
            if close { return }
        }
    }
}
