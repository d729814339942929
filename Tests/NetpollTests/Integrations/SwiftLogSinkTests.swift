#if Logging
import Logging
import Netpoll
import NetpollLogging
import Synchronization
import Testing

/// Collects what a Logger was given.
final class CapturedLines: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
}

struct CapturingLogHandler: LogHandler {
    let captured: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        captured.lines.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

extension NetpollLogTests {
    /// NetpollLogging: the library's lines reach a swift-log Logger at their level,
    /// filtered by the Logger's own level. (In ``NetpollLogTests``: the sink is
    /// process-wide.)
    @Suite struct SwiftLogSinkTests {
        @Test func libraryLinesGoThroughTheBootstrappedLogger() {
            let captured = CapturedLines()
            var logger = Logger(label: "netpoll") { _ in CapturingLogHandler(captured: captured) }
            logger.logLevel = .notice
            NetpollLog.bootstrap(logger)
            defer { NetpollLog.setSink(nil) }

            NetpollLog.log(.notice, "NETPOLL_BACKEND=auto: io_uring unusable (test); using epoll")
            NetpollLog.log(.error, "loop 1: poll failed: test")
            NetpollLog.log(.debug, "below the logger's level")
            let lines = captured.lines.withLock { $0 }
            #expect(lines.map(\.0) == [.notice, .error])
            #expect(lines.map(\.1) == ["NETPOLL_BACKEND=auto: io_uring unusable (test); using epoll", "loop 1: poll failed: test"])
        }

        @Test func everyLevelMapsToTheSameSwiftLogLevel() {
            let names = NetpollLog.Level.allCases.map { "\(Logger.Level($0))" }
            #expect(names == ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        }
    }
}
#endif
