import Testing
@testable import Netpoll

/// The backends every Runtime, FD and Net test runs over: epoll, the three io_uring
/// modes the library is expected to be used with (each with the optional features
/// `auto` picks), and completion mode with every optional feature off and with
/// every one on. An unusable one still appears as
/// an argument and prints "skipped: why" (see ``withLoopGroup``).
let loopConfigs: [PollerConfig] = PollerConfig.all.filter {
    ["epoll", "uring-multishot-defer", "uring-oneshot-defer", "uring-completion-defer",
     "uring-completion-nofeatures", "uring-completion-allfeatures"].contains($0.name)
}

/// Runs `body` with a fresh `LoopGroup` of `loops` loops on `config`'s backend, inside
/// a descriptor-leak check; shuts the group down afterwards (also when `body` throws).
/// An unusable configuration prints "skipped: why" and returns.
func withLoopGroup(
    _ config: PollerConfig, loops: Int = 1,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (LoopGroup) async throws -> Void
) async throws {
    guard config.canRunHere() else { return }
    try await withNoFDLeak(sourceLocation: sourceLocation) {
        let group = try LoopGroup(loops: loops, backend: config.backend)
        defer { group.shutdown() }
        try await body(group)
    }
}

