// A FlyingSocks echo server: one of the peers `netpoll bench` compares against,
// the other Swift-concurrency socket library without NIO (EchoServer.swift).
//
// Contract shared by every peer (scripts/bench-peers relies on it): started as
// `flyingsocks-echo-server --host 127.0.0.1 --port 0`, it prints exactly
// `listening on HOST:PORT` as its first stdout line, echoes every byte on every
// connection, runs its tasks on ONE thread, and exits 0 promptly on SIGTERM or
// SIGINT. FlyingSocks has no event-loop thread of its own: its tasks run on
// whatever executor they prefer (OneThreadExecutor here; Swift's global one, as
// in a default FlyingFox app, with --global-executor), and its pool waits in
// epoll_wait on a Dispatch queue's thread, which resumes them.
import FlyingSocks

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

func writeAll(_ fd: Int32, _ s: String) {
    var s = s
    s.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    writeAll(2, "usage: flyingsocks-echo-server [--host 127.0.0.1] [--port P] [--global-executor]\n")
    exit(2)
}

var host = "127.0.0.1"
var port: UInt16 = 0
var globalExecutor = false
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--host":
        guard let v = args.popFirst() else { usage() }
        host = v
    case "--port":
        guard let v = args.popFirst(), let p = UInt16(v) else { usage() }
        port = p
    case "--global-executor":
        globalExecutor = true
    default:
        usage()
    }
}
// FlyingSocks takes numeric addresses only.
if host == "localhost" { host = "127.0.0.1" }

// Loopback only: a benchmark peer must never be reachable from the network.
guard host == "::1" || host.hasPrefix("127.") else {
    writeAll(2, "flyingsocks-echo-server: refusing non-loopback host \(host)\n")
    exit(2)
}

// Block the signals before any thread exists so that the executor's and the
// pool's threads inherit the mask and only the sigwait below receives them.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_BLOCK, &signals, nil)
// FlyingSocks writes with write(2), so a write to a reset connection would raise it.
signal(SIGPIPE, SIG_IGN)

let listener: (socket: Socket, port: UInt16)
do {
    listener = try EchoServer.listen(host: host, port: port)
} catch {
    writeAll(2, "flyingsocks-echo-server: listen \(host):\(port): \(error)\n")
    exit(1)
}

// Connections wait in the backlog until the accept loop runs, so the line can
// go out before the pool is up; a pool that fails to start exits non-zero.
// Child tasks inherit the preference, and FlyingSocks' SocketPool (a default
// actor) runs on the preferred executor of the task that calls it.
let executor: OneThreadExecutor? = globalExecutor ? nil : OneThreadExecutor()
Task.detached(executorPreference: executor) { [socket = listener.socket] in
    do {
        try await EchoServer.serve(socket)
        writeAll(2, "flyingsocks-echo-server: the server stopped\n")
    } catch {
        writeAll(2, "flyingsocks-echo-server: \(error)\n")
    }
    exit(1)
}

// write(2) rather than print: stdout may be a pipe, and the orchestrator waits for
// this line, so it must not sit in a stdio buffer.
let shownHost = host.contains(":") ? "[\(host)]" : host
writeAll(1, "listening on \(shownHost):\(listener.port)\n")

var received: Int32 = 0
sigwait(&signals, &received)
// Exit at once rather than draining connections: the orchestrator stops the
// peer only after its load run ended, and a prompt exit is the contract.
exit(0)
