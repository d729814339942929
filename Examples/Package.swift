// swift-tools-version: 6.0
//
// Small servers built on Netpoll, the way an embedder would write them: an echo
// server, a line-based chat server, and a minimal HTTP/1.1 keep-alive "hello"
// server. A package of its own so the root package's `swift test` does not build
// or test them; CI runs `swift test --package-path Examples` (see .ci/run).
// The HTTP example speaks swift-http-types' HTTPRequest/HTTPResponse: that
// dependency is this package's, never the library's.
//
//     swift run --package-path Examples HTTPHelloServer 8080
//     NETPOLL_BACKEND=uring swift run --package-path Examples ChatServer 7000
import PackageDescription

let package = Package(
    name: "netpoll-examples",
    dependencies: [
        .package(name: "swift-netpoll", path: ".."),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(name: "EchoServer", dependencies: [.product(name: "Netpoll", package: "swift-netpoll")]),
        .executableTarget(name: "ChatServer", dependencies: [.product(name: "Netpoll", package: "swift-netpoll")]),
        // The HTTP/1.1 request reader and response writer, a library so the tests
        // can call the parser directly as well as run the server.
        .target(name: "HTTPHello", dependencies: [.product(name: "HTTPTypes", package: "swift-http-types")]),
        .executableTarget(
            name: "HTTPHelloServer",
            dependencies: [
                "HTTPHello",
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "HTTPHello",
                // Built before the tests, which run them as child processes.
                "EchoServer", "ChatServer", "HTTPHelloServer",
            ]
        ),
    ]
)
