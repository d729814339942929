// A Hummingbird 2 "hello" server: the peer `scripts/bench-http` loads beside the
// Netpoll HTTP example (Examples/Sources/HTTPHelloServer), since Hummingbird is the
// server an embedder would otherwise pick.
//
// Same contract as that example: `hummingbird-hello-server PORT` (0: any free port)
// prints `listening on HOST:PORT` as its first stdout line and answers every request
// with "Hello, World!" over HTTP/1.1 keep-alive. One event-loop thread, as the
// netpoll server runs one loop when pinned to one CPU.
import Hummingbird
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
let router = Router()
router.get("/") { _, _ in "Hello, World!" }
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    onServerRunning: { channel in
        print("listening on 127.0.0.1:\(channel.localAddress?.port ?? port)")
        fflush(nil)
    },
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1))
)
try await app.runService()
