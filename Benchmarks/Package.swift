// swift-tools-version: 6.1
//
// Benchmarks for swift-netpoll, kept out of the root package so that library users
// never fetch SwiftNIO or package-benchmark.
//
// - NIOEchoServer (product nio-echo-server, Sources/NIOEchoServer): a SwiftNIO peer
//   for `netpoll bench` (see scripts/bench-peers).
// - FlyingSocksEchoServer (product flyingsocks-echo-server): the same peer on
//   FlyingFox's FlyingSocks, AsyncSocket over its own epoll SocketPool: Swift
//   concurrency sockets without NIO, as this library is.
// - HummingbirdHelloServer (product hummingbird-hello-server): the Hummingbird 2
//   "hello" that scripts/bench-http loads beside the Netpoll HTTP example, as the
//   framework reference.
// - NIOHTTPHelloServer (product nio-http-server): a minimal NIOHTTP1 "hello", the
//   like-for-like NIO row of scripts/bench-http.
// - FlyingFoxHTTPServer (product flyingfox-http-server): the same "hello" on
//   FlyingFox's HTTPServer, the flyingfox-http row of scripts/bench-http.
// - NetpollBenchmarks (Benchmarks/NetpollBenchmarks): package-benchmark
//   micro-benchmarks of Netpoll, every backend in one run: `bash scripts/bench-micro`,
//   or `swift package --disable-sandbox benchmark --target NetpollBenchmarks` here.
import PackageDescription

let package = Package(
    name: "swift-netpoll-benchmarks",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "nio-echo-server", targets: ["NIOEchoServer"]),
        .executable(name: "flyingsocks-echo-server", targets: ["FlyingSocksEchoServer"]),
        .executable(name: "hummingbird-hello-server", targets: ["HummingbirdHelloServer"]),
        .executable(name: "nio-http-server", targets: ["NIOHTTPHelloServer"]),
        .executable(name: "flyingfox-http-server", targets: ["FlyingFoxHTTPServer"]),
    ],
    dependencies: [
        // Named: a path dependency's identity is otherwise its folder's name, which
        // differs between clones (main/, a CI folder, ...).
        .package(name: "swift-netpoll", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        // The trait makes package-benchmark count mallocs, which the performance rules need
        // ("steady-state read, write and park/resume allocate nothing").
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "NIOEchoServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/NIOEchoServer"
        ),
        .executableTarget(
            name: "FlyingSocksEchoServer",
            dependencies: [
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ],
            path: "Sources/FlyingSocksEchoServer"
        ),
        .executableTarget(
            name: "FlyingFoxHTTPServer",
            dependencies: [
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ],
            path: "Sources/FlyingFoxHTTPServer"
        ),
        .executableTarget(
            name: "HummingbirdHelloServer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/HummingbirdHelloServer"
        ),
        .executableTarget(
            name: "NIOHTTPHelloServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/NIOHTTPHelloServer"
        ),
        .executableTarget(
            name: "NetpollBenchmarks",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/NetpollBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
