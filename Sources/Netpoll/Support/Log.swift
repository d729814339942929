import Synchronization

/// Where the library's few log lines go (the `auto` backend's fallback reason, a
/// loop's poller failure): one line each to stderr by default, or to a sink the
/// program installs. The `NetpollLogging` product installs one that writes to a
/// swift-log `Logger`; Netpoll itself depends on nothing.
///
/// ```swift
/// NetpollLog.setSink { level, message in myLogger.log(level, message) }
/// ```
public enum NetpollLog {
    /// Severity, in swift-log's order (the lines the library writes today are
    /// `notice` and `error`).
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// Receives each line, without the `netpoll: ` prefix stderr gets. Called on
    /// whichever thread logs (a loop thread for poller failures): it must not block
    /// for long and must not call back into the library synchronously.
    public typealias Sink = @Sendable (Level, String) -> Void

    private static let sink = Mutex<Sink?>(nil)

    /// Installs `sink` for every later line (nil: back to stderr). Lines are rare
    /// (start-up, failures), so the lock taken per line costs nothing that matters.
    public static func setSink(_ sink: Sink?) {
        self.sink.withLock { $0 = sink }
    }

    /// Writes one line to the sink, or to stderr as `netpoll: message`. The library's
    /// own lines come through here; public so a program or an integration can check
    /// where its sink sends them.
    public static func log(_ level: Level, _ message: String) {
        if let s = sink.withLock({ $0 }) {
            s(level, message)
        } else {
            printToStderr("netpoll: \(message)")
        }
    }
}
