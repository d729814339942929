import HTTPHello
import HTTPTypes
import Netpoll
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server that answers every request with "Hello, World!":
/// `HTTPHelloServer [PORT]` (default 8080; 0 picks a free port).
///
/// Requests come from ``RequestReader`` as swift-http-types `HTTPRequest`s, each
/// once its body (Content-Length or chunked) has been read and dropped; answers
/// are `HTTPResponse`s written as HTTP/1.1. Keep-alive as HTTP/1.1 defines it (a
/// connection stays open unless the request says `Connection: close`, or is
/// HTTP/1.0 without `keep-alive`); pipelined requests answered in order with one
/// write per read; a malformed request answered 400, a head over 64 KiB 431, a
/// body over 1 MiB 413, each then closed. A connection idle for 60 s is closed.
/// The response bytes are those of the Go and NIO servers scripts/bench-http
/// compares it with: Go's header order, no Date.
@main struct HTTPHelloServer {
    static let body = Array("Hello, World!".utf8)

    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
        let listener = try await TCPListener.listen(host: "127.0.0.1", port: port)
        print("listening on \(listener.address!)")
        fflush(nil)  // a parent reading our stdout through a pipe sees the line now
        try await listener.serve { conn in try await serve(conn) }
    }

    /// The handler: the same answer to every request.
    static func respond(to head: RequestHead) -> HTTPResponse {
        var fields: HTTPFields = [.contentType: "text/plain"]
        if !head.keepAlive {
            fields[.connection] = "close"
        } else if head.minorVersion == 0 {
            // HTTP/1.0 closes by default, so a 1.0 client that asked to keep it is told it was.
            fields[.connection] = "keep-alive"
        }
        return HTTPResponse(status: .ok, headerFields: fields)
    }

    /// `nonisolated(nonsending)`: it runs where its caller does — `serve`'s
    /// handler, isolated to the connection's loop. A plain `async` function would
    /// hop to the global executor on every call and back to the loop for every read
    /// and write: two thread switches per request, which cost more CPU than the
    /// whole HTTP parse (perf showed the server's time on Dispatch's threads).
    nonisolated(nonsending) static func serve(_ conn: TCPConn) async throws {
        var buffer: [UInt8] = []
        var reader = RequestReader()
        var replies: [UInt8] = []
        while true {
            try conn.setReadDeadline(.now + .seconds(60))
            if try await conn.read(appendingTo: &buffer) == 0 { return }  // end of stream
            // Answer every complete request in the buffer (pipelining), in one write.
            var offset = 0
            var close = false
            while !close, let event = reader.next(buffer, at: &offset) {
                switch event {
                case .request(let head):
                    respond(to: head).write(body: body, to: &replies)
                    close = !head.keepAlive
                case .failed(let status):
                    HTTPResponse.refusing(status).write(body: [], to: &replies)
                    close = true
                }
            }
            buffer.removeFirst(offset)
            if !replies.isEmpty {
                try await conn.write(replies)
                replies.removeAll(keepingCapacity: true)
            }
            if close { return try await lingeringClose(conn) }
        }
    }

    /// Closing with unread bytes in the socket makes the kernel send a reset, which
    /// can destroy the answer before the client reads it (a 413 sent while the
    /// body still arrives, a `Connection: close` answer with pipelined requests
    /// behind it). So: end our side, and drop what the client still sends until it
    /// closes too, for at most 2 s, as Go's net/http does (closeWriteAndWait).
    nonisolated(nonsending) static func lingeringClose(_ conn: TCPConn) async throws {
        try conn.closeWrite()
        try conn.setReadDeadline(.now + .seconds(2))
        while try await conn.readBorrowed(upTo: 65536, { $0.count }) > 0 {}
    }
}
