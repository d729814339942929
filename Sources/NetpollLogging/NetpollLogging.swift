#if Logging
import Logging
import Netpoll

extension NetpollLog {
    /// Sends the library's log lines (``NetpollLog``) to `logger` from now on,
    /// each at its level; `logger`'s own level filters them as usual.
    ///
    /// ```swift
    /// NetpollLog.bootstrap(Logger(label: "netpoll"))
    /// let group = try LoopGroup()   // an `auto` fallback is now logged through swift-log
    /// ```
    public static func bootstrap(_ logger: Logger) {
        setSink { level, message in
            logger.log(level: Logger.Level(level), "\(message)")
        }
    }
}

extension Logger.Level {
    /// The swift-log level of a ``NetpollLog/Level`` (the same seven, in order).
    public init(_ level: NetpollLog.Level) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}
#endif
