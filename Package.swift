// swift-tools-version: 6.0
//
// swift-netpoll: Go's network poller (pollDesc + internal/poll + a small net API)
// over two interchangeable readiness backends, epoll and io_uring POLL_ADD.
//
// The library (`Netpoll`) needs only the toolchain and liburing. The CLI may use
// swift-argument-parser and hdrhistogram-swift. Benchmarks that need SwiftNIO or
// package-benchmark live in Benchmarks/ with their own Package.swift so library
// users never fetch them.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Async functions run on their caller's executor (SE-0461): no hop to the generic
    // executor — whose preferred-executor lookup takes a runtime lock — after every
    // park on the read/write path. Measured: +30% echo requests/s on one loop.
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "swift-netpoll",
    products: [
        .library(name: "Netpoll", targets: ["Netpoll"]),
        .executable(name: "netpoll", targets: ["NetpollCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // C shim: liburing's static inline API, eventfd, epoll_pwait2, accept4.
        .target(
            name: "CNetpoll",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "Netpoll",
            dependencies: ["CNetpoll"],
            exclude: ["Runtime/PollDesc.pml", "Runtime/RingReceive.pml"],
            swiftSettings: strict
        ),
        // The load client's epoll calls in C (Glibc does not import <sys/epoll.h>);
        // its own, not CNetpoll, for the reason below.
        .target(name: "CLoadSys"),
        // Load generator and benchmark orchestration used by the CLI. Independent of
        // Netpoll and CNetpoll on purpose: the load client must not share the code it measures.
        .target(
            name: "NetpollTools",
            dependencies: ["CLoadSys", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "NetpollCLI",
            dependencies: [
                "Netpoll",
                "NetpollTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // C the tests need and the library must not ship (a seccomp filter).
        .target(name: "CNetpollTestSupport"),
        .testTarget(
            name: "NetpollTests",
            dependencies: ["Netpoll", "CNetpoll", "CNetpollTestSupport"],
            swiftSettings: strict
        ),
        // Pure logic of the load client and the bench (parsing, patterns, reports).
        .testTarget(
            name: "NetpollToolsTests",
            dependencies: ["NetpollTools"],
            swiftSettings: strict
        ),
    ]
)
