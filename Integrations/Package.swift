// swift-tools-version: 6.0
//
// Integrations of swift-netpoll with the server-side Swift ecosystem, each its own
// product: NetpollMetrics (swift-metrics), NetpollLifecycle (swift-service-lifecycle),
// NetpollLogging (swift-log).
//
// A package of its own, not products of the root package: SwiftPM clones every
// package dependency a dependency declares, used or not (checked with SwiftPM 6.3:
// a package depending only on product `Netpoll` still cloned swift-argument-parser
// and hdrhistogram-swift, which only the CLI uses). Here, `import Netpoll` alone
// fetches and builds nothing new.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "swift-netpoll-integrations",
    products: [
        .library(name: "NetpollMetrics", targets: ["NetpollMetrics"]),
        .library(name: "NetpollLifecycle", targets: ["NetpollLifecycle"]),
        .library(name: "NetpollLogging", targets: ["NetpollLogging"]),
    ],
    dependencies: [
        .package(name: "swift-netpoll", path: ".."),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .target(
            name: "NetpollMetrics",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NetpollLifecycle",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NetpollLogging",
            dependencies: [
                .product(name: "Netpoll", package: "swift-netpoll"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NetpollIntegrationsTests",
            dependencies: [
                "NetpollMetrics", "NetpollLifecycle", "NetpollLogging",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
