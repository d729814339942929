// A SwiftNIO echo server: one of the peers `netpoll bench` compares against.
//
// Contract shared by every peer (scripts/bench-peers relies on it): started as
// `nio-echo-server --host 127.0.0.1 --port 0`, it prints exactly
// `listening on HOST:PORT` as its first stdout line, echoes every byte on every
// connection, runs on ONE event loop, and exits 0 promptly on SIGTERM or SIGINT.
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes back what it reads. Flushing once per read burst, not per read, is what
/// NIO applications do and lets one writev carry a whole burst.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// The client's EOF arrives while echoes may still sit in NIO's write queue;
    /// closing right away would fail those writes and drop bytes the client is
    /// waiting for. Writes complete in order, so an empty write's promise fires
    /// once everything before it is in the kernel.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset peer is normal under load; the connection just ends.
        context.close(promise: nil)
    }
}

func writeAll(_ fd: Int32, _ s: String) {
    var s = s
    s.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    writeAll(2, "usage: nio-echo-server [--host 127.0.0.1] [--port P]\n")
    exit(2)
}

var host = "127.0.0.1"
var port = 0
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--host":
        guard let v = args.popFirst() else { usage() }
        host = v
    case "--port":
        guard let v = args.popFirst(), let p = Int(v), (0...65535).contains(p) else { usage() }
        port = p
    default:
        usage()
    }
}

// Loopback only: a benchmark peer must never be reachable from the network.
guard host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.") else {
    writeAll(2, "nio-echo-server: refusing non-loopback host \(host)\n")
    exit(2)
}

// Block the signals before any thread exists so that every NIO thread inherits
// the mask and only the sigwait below receives them.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_BLOCK, &signals, nil)
signal(SIGPIPE, SIG_IGN)

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    // Without it NIO closes on EOF and fails writes still queued (see EchoHandler).
    .childChannelOption(.allowRemoteHalfClosure, value: true)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(EchoHandler())
        }
    }

let channel: any Channel
do {
    channel = try bootstrap.bind(host: host, port: port).wait()
} catch {
    writeAll(2, "nio-echo-server: bind \(host):\(port): \(error)\n")
    exit(1)
}
let boundPort = channel.localAddress?.port ?? port
// write(2) rather than print: stdout may be a pipe, and the orchestrator waits for
// this line, so it must not sit in a stdio buffer.
writeAll(1, "listening on \(host):\(boundPort)\n")

var received: Int32 = 0
sigwait(&signals, &received)
// Exit at once rather than draining connections: the orchestrator stops the
// peer only after its load run ended, and a prompt exit is the contract.
exit(0)
