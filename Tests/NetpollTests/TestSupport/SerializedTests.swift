import Testing

/// Runs every suite that opens descriptors one test at a time (hence the name): one
/// suite per layer of
/// Sources/Netpoll (each in the folder of that name) and the CLI's. `.serialized` is
/// inherited by the nested suites and by the cases of parameterized tests, so one of
/// these tests runs at a time even under plain `swift test`, which runs suites in
/// parallel: the leak check (``withNoFDLeak(sourceLocation:_:)``) counts the whole
/// process's descriptors and would otherwise see a sibling test's. Suites that open
/// none (NetpollToolsTests) still run beside this one.
///
/// A new suite that opens a descriptor — a pipe, a socket, a poller, a loop group, a
/// child process — goes in here, as an extension of its layer's suite.
@Suite(.serialized) struct SerializedTests {
    /// Poller/: epoll and io_uring behind the `Poller` protocol, on their own.
    @Suite struct PollerTests {}
    /// Runtime/: PollDesc, EventLoop, timers and the PollCache.
    @Suite struct RuntimeTests {}
    /// FD/: the FDMutex and what it guarantees the FD's read and write loops.
    @Suite struct FDTests {}
    /// Net/: addresses, dial, listen, connections.
    @Suite struct NetTests {}
}
