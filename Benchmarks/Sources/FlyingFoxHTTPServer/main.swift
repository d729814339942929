// A FlyingFox HTTPServer "hello": the FlyingFox row of scripts/bench-http, the
// Swift-concurrency HTTP server without NIO, doing the same work as the Netpoll
// example (Examples/Sources/HTTPHelloServer), Go's net/http (peers/go/http.go) and
// NIOHTTP1 (Sources/NIOHTTPHelloServer): FlyingFox parses each request, reads the
// body, and one handler answers.
//
// Contract shared by the bench-http servers: `flyingfox-http-server PORT` (0: any
// free port) prints `listening on 127.0.0.1:PORT` as its first stdout line, answers
// every request with Content-Length, Content-Type text/plain, no Date,
// "Hello, World!", keeps the connection open unless the request asks to close (or
// is HTTP/1.0 without keep-alive). Its tasks run on Swift's global executor, as in
// any FlyingFox app: HTTPServer.run starts its accept loop in an unstructured Task,
// which a task executor preference does not reach, so the one-thread executor of
// the FlyingSocks echo peer cannot be used here; the bench pins every server to
// one CPU, so it still has one CPU as the others do. Where its bytes
// cannot match the others' (FlyingFox writes header names sorted, so
// `Connection: close` comes first; it closes a malformed request without a 400),
// scripts/bench-http's header comment says what its check tolerates.
import FlyingFox
import FlyingSocks
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Hello: HTTPHandler {
    static let body = "Hello, World!".data(using: .utf8)!

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        var headers: HTTPHeaders = [.contentType: "text/plain"]
        // FlyingFox closes after such a request but does not say so (its own
        // keep-alive test is internal); the other servers send this header.
        if !keepsAlive(request) { headers[.connection] = "close" }
        return HTTPResponse(statusCode: .ok, headers: headers, body: Self.body)
    }

    /// RFC 9112 §9.3, as FlyingFox decides it: HTTP/1.1 keeps unless told `close`,
    /// HTTP/1.0 closes unless told `keep-alive`.
    func keepsAlive(_ request: HTTPRequest) -> Bool {
        let options = (request.headers[.connection] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        return request.version == .http11 ? !options.contains("close") : options.contains("keep-alive")
    }
}

/// Sets TCP_NODELAY on the listening socket bound to `port`, which Linux passes on to
/// every connection accepted after it. FlyingFox sets no TCP_NODELAY and writes a
/// response's head and body in two writes, so Nagle holds the body back until the
/// client's delayed ACK (tens of ms a request); Go, NIO and Netpoll all turn it on.
/// HTTPServer keeps its listener to itself, hence the search by port.
func setNoDelayOnListener(port: UInt16) -> Bool {
    for fd in Int32(3)..<1024 {
        var accepting: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0, accepting == 1 else { continue }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0, address.sin_family == sa_family_t(AF_INET), UInt16(bigEndian: address.sin_port) == port else { continue }
        var one: Int32 = 1
        return setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    }
    return false
}

let port = CommandLine.arguments.dropFirst().first.flatMap { UInt16($0) } ?? 8080
// FlyingSocks writes with write(2): a write to a reset connection would raise it.
signal(SIGPIPE, SIG_IGN)
// .disabled: the default logger prints to stdout, where the first line is the contract's.
let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: port), logger: .disabled, handler: Hello())
async let running: Void = server.run()
try await server.waitUntilListening()
guard case .ip4(_, let bound) = await server.listeningAddress else {
    fatalError("flyingfox-http-server: not listening on an IPv4 address")
}
// Before the line: the bench connects only once it has read it.
guard setNoDelayOnListener(port: bound) else { fatalError("flyingfox-http-server: no listener on port \(bound) to set TCP_NODELAY on") }
print("listening on 127.0.0.1:\(bound)")
fflush(nil)  // a parent reading our stdout through a pipe sees the line now
try await running
