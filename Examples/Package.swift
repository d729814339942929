// swift-tools-version: 6.0
//
// Small servers built on Netpoll, the way an embedder would write them: an echo
// server, a line-based chat server, and a minimal HTTP/1.1 keep-alive "hello"
// server. A package of its own so the root package's `swift test` does not build
// or test them; CI runs `swift test --package-path Examples` (see .ci/run).
//
//     swift run --package-path Examples HTTPHelloServer 8080
//     NETPOLL_BACKEND=uring swift run --package-path Examples ChatServer 7000
import PackageDescription

let package = Package(
    name: "netpoll-examples",
    dependencies: [
        .package(name: "swift-netpoll", path: ".."),
    ],
    targets: [
        .executableTarget(name: "EchoServer", dependencies: [.product(name: "Netpoll", package: "swift-netpoll")]),
        .executableTarget(name: "ChatServer", dependencies: [.product(name: "Netpoll", package: "swift-netpoll")]),
        .executableTarget(name: "HTTPHelloServer", dependencies: [.product(name: "Netpoll", package: "swift-netpoll")]),
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                // Built before the tests, which run them as child processes.
                "EchoServer", "ChatServer", "HTTPHelloServer",
            ]
        ),
    ]
)
