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
// is HTTP/1.0 without keep-alive), and runs its tasks on ONE thread. Where its bytes
// cannot match the others' (FlyingFox writes header names sorted, so
// `Connection: close` comes first; it closes a malformed request without a 400),
// scripts/bench-http's header comment says what its check tolerates.
import FlyingFox
import FlyingSocks
import Foundation
import PeerExecutor

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

let port = CommandLine.arguments.dropFirst().first.flatMap { UInt16($0) } ?? 8080
// FlyingSocks writes with write(2): a write to a reset connection would raise it.
signal(SIGPIPE, SIG_IGN)
// .disabled: the default logger prints to stdout, where the first line is the contract's.
let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: port), logger: .disabled, handler: Hello())
// The server actor, its pool and every connection task inherit the one thread.
try await withTaskExecutorPreference(OneThreadExecutor()) {
    async let running: Void = server.run()
    try await server.waitUntilListening()
    guard case .ip4(_, let bound) = await server.listeningAddress else {
        fatalError("flyingfox-http-server: not listening on an IPv4 address")
    }
    print("listening on 127.0.0.1:\(bound)")
    fflush(nil)  // a parent reading our stdout through a pipe sees the line now
    try await running
}
