// A minimal SwiftNIO HTTP/1.1 "hello": the NIO row of scripts/bench-http, doing the
// same work as the Netpoll example (Examples/Sources/HTTPHelloServer) and the Go
// peer (peers/go/http.go) — NIOHTTP1 parses the request, one handler answers.
//
// Contract shared by the bench-http servers: `nio-http-server PORT` (0: any free
// port) prints `listening on 127.0.0.1:PORT` as its first stdout line, answers every
// request with the same bytes as the others (Content-Length, Content-Type
// text/plain, no Date, "Hello, World!"), keeps the connection open unless the
// request asks to close (or is HTTP/1.0 without keep-alive), and runs ONE event loop.
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Answers each request once its end arrives: a body, if any, is read and dropped.
final class HelloHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let body = "Hello, World!"
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            // Header order as Go's net/http writes them, so every server's bytes match.
            var headers = HTTPHeaders([("Content-Length", "\(Self.body.utf8.count)"), ("Content-Type", "text/plain")])
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: Self.body)))), promise: nil)
            if keepAlive {
                context.write(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                    loopBound.value.close(promise: nil)
                }
            }
        }
    }

    // One flush per read burst: pipelined answers leave in one write, as NIO apps do.
    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset peer is normal under load; the connection just ends.
        context.close(promise: nil)
    }
}

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
signal(SIGPIPE, SIG_IGN)
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            // withErrorHandling: a malformed request gets 400 and the connection closes.
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(HelloHandler())
        }
    }
let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
print("listening on 127.0.0.1:\(channel.localAddress?.port ?? port)")
fflush(nil)  // a parent reading our stdout through a pipe sees the line now
try channel.closeFuture.wait()
