import Synchronization
import Testing
@testable import Netpoll

/// The library's log lines go to the sink a program installs (``NetpollLog``), and
/// back to stderr when it is removed. Serialized: the sink is process-wide.
@Suite(.serialized) struct NetpollLogTests {
    @Test func linesGoToTheInstalledSinkWithTheirLevel() {
        let seen = Mutex<[(NetpollLog.Level, String)]>([])
        NetpollLog.setSink { level, message in seen.withLock { $0.append((level, message)) } }
        defer { NetpollLog.setSink(nil) }
        NetpollLog.log(.notice, "NETPOLL_BACKEND=auto: io_uring unusable (test); using epoll")
        NetpollLog.log(.error, "loop 3: poll failed: test")
        let lines = seen.withLock { $0 }
        #expect(lines.map(\.0) == [.notice, .error])
        #expect(lines.map(\.1) == ["NETPOLL_BACKEND=auto: io_uring unusable (test); using epoll", "loop 3: poll failed: test"])
    }

    @Test func removingTheSinkStopsDelivery() {
        let count = Mutex(0)
        NetpollLog.setSink { _, _ in count.withLock { $0 += 1 } }
        NetpollLog.setSink(nil)
        NetpollLog.log(.debug, "to stderr (expected in the test output)")
        #expect(count.withLock { $0 } == 0)
    }
}
