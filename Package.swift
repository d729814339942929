// swift-tools-version: 6.1
//
// swift-netpoll: Go's network poller (pollDesc + internal/poll + a small net API)
// over two interchangeable backends: epoll, and io_uring (POLL_ADD readiness, or
// completion mode: reads through a multishot RECV into a provided-buffer ring).
//
// The library (`Netpoll`) needs only the toolchain, liburing and swift-system (the
// ecosystem's FileDescriptor and Errno at the API's edge). The CLI may use
// swift-argument-parser and hdrhistogram-swift. Benchmarks that need SwiftNIO or
// package-benchmark live in Benchmarks/ with their own Package.swift so library
// users never fetch them.
//
// Integrations are products of their own, each behind a package trait: NetpollMetrics
// (trait Metrics: swift-metrics), NetpollLifecycle (trait Lifecycle:
// swift-service-lifecycle), NetpollLogging (trait Logging: swift-log). A trait is
// needed, not just a separate target: SwiftPM clones every package dependency a
// dependency declares whether its products are used or not, except a dependency
// used only under traits that are off (how this was checked: docs/performance-log.md).
// So `import Netpoll` alone fetches and builds nothing new; an embedder enables
// what it uses:
//
//     .package(url: ".../swift-netpoll", from: "...", traits: ["Metrics"])
//
// Here, `swift test --traits Metrics,Lifecycle,Logging` (scripts/test) builds and
// tests them. The fourth trait, FaultInjection, is for tests only: scripts/test-faults
// builds with it (Sources/Netpoll/Support/FaultInjection.swift).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Async functions run on their caller's executor (SE-0461): no hop to the generic
    // executor — whose preferred-executor lookup takes a runtime lock — after every
    // park on the read/write path (the gain: docs/performance-log.md; what would undo
    // it: docs/runtime-tricks.md#nonsending).
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "swift-netpoll",
    products: [
        .library(name: "Netpoll", targets: ["Netpoll"]),
        .executable(name: "netpoll", targets: ["NetpollCLI"]),
        .library(name: "NetpollMetrics", targets: ["NetpollMetrics"]),
        .library(name: "NetpollLifecycle", targets: ["NetpollLifecycle"]),
        .library(name: "NetpollLogging", targets: ["NetpollLogging"]),
    ],
    traits: [
        .trait(name: "Metrics", description: "NetpollMetrics: the loops' statistics through swift-metrics"),
        .trait(name: "Lifecycle", description: "NetpollLifecycle: a LoopGroup as a swift-service-lifecycle Service"),
        .trait(name: "Logging", description: "NetpollLogging: the library's log lines through swift-log"),
        // Test-only, never in a release build: the errno door and the ring lie at
        // random, seeded by NETPOLL_FAULTS (Sources/Netpoll/Support/FaultInjection.swift;
        // scripts/test-faults).
        .trait(
            name: "FaultInjection",
            description: "Tests only: seeded EINTR/EAGAIN/short counts at the FD loops and early ring endings, chosen by NETPOLL_FAULTS=SEED[:RATE[:KINDS]]"
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // C shim: liburing's static inline API, eventfd, epoll_pwait2, accept4.
        .target(
            name: "CNetpoll",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "Netpoll",
            dependencies: ["CNetpoll", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["Runtime/PollDesc.pml", "Runtime/RingReceive.pml", "Runtime/BufferLedger.pml"],
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
        // Integrations: each compiles to nothing unless its trait is on (its sources
        // are inside `#if <trait>`), so a build without the trait needs no dependency.
        .target(
            name: "NetpollMetrics",
            dependencies: ["Netpoll", .product(name: "CoreMetrics", package: "swift-metrics", condition: .when(traits: ["Metrics"]))],
            swiftSettings: strict
        ),
        .target(
            name: "NetpollLifecycle",
            dependencies: [
                "Netpoll",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle", condition: .when(traits: ["Lifecycle"])),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NetpollLogging",
            dependencies: ["Netpoll", .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging"]))],
            swiftSettings: strict
        ),
        // C the tests need and the library must not ship (a seccomp filter; the per-message
        // census's malloc and runtime counters, docs/runtime-tricks.md#the-census).
        .target(name: "CNetpollTestSupport"),
        .testTarget(
            name: "NetpollTests",
            dependencies: [
                "Netpoll", "CNetpoll", "CNetpollTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                // Tests/NetpollTests/Integrations, each file inside `#if <trait>`.
                "NetpollMetrics", "NetpollLifecycle", "NetpollLogging",
                .product(name: "MetricsTestKit", package: "swift-metrics", condition: .when(traits: ["Metrics"])),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle", condition: .when(traits: ["Lifecycle"])),
                .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging", "Lifecycle"])),
            ],
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
