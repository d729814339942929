import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which readiness backend event loops use. How one is chosen from the environment,
/// and probed, is in BackendSelection.swift.
///
/// The environment is read once per process (``fromEnvironment()``):
///
/// `NETPOLL_BACKEND`, `NETPOLL_LOOPS` and the `NETPOLL_URING_*` settings: their
/// values and defaults are ``Settings/variables``.
///
/// Every variable is checked, whichever backend is chosen; a bad value is
/// ``NetpollError/invalidSetting(name:value:allowed:)`` naming the variable, the
/// value and what is allowed (the rules: ``Settings``).
/// A program may also pass a `Backend` in code (``LoopGroup/init(loops:backend:)``).
public struct Backend: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case epoll, uring
    }

    /// What a user may ask for.
    public enum Choice: String, Sendable, CaseIterable {
        case epoll, uring, auto
        /// io_uring in a given mode: the labels `netpoll bench` and `--backend` use.
        case uringMultishot = "uring-multishot"
        case uringOneshot = "uring-oneshot"
        case uringCompletion = "uring-completion"

        /// The io_uring mode a labelled choice forces, if any.
        public var uringMode: URingPoller.Mode? {
            switch self {
            case .uringMultishot: return .multishot
            case .uringOneshot: return .oneshot
            case .uringCompletion: return .completion
            case .epoll, .uring, .auto: return nil
            }
        }

        /// Parses a backend name (any case); an unknown one is
        /// ``NetpollError/invalidSetting(name:value:allowed:)`` naming `name` and the
        /// valid values.
        public init(parsing value: String, name: String = "NETPOLL_BACKEND") throws(NetpollError) {
            self = try Settings.choice(value, name: name)
        }
    }

    public var kind: Kind
    /// Ring options; only read when `kind == .uring`.
    public var uring: URingPoller.Options
    /// Event-array size; only read when `kind == .epoll`.
    public var epoll: EpollPoller.Options

    public init(kind: Kind, uring: URingPoller.Options = .init(), epoll: EpollPoller.Options = .init()) {
        self.kind = kind
        self.uring = uring
        self.epoll = epoll
    }

    public static let epoll = Backend(kind: .epoll)
    public static let uring = Backend(kind: .uring)
    public static func uring(_ options: URingPoller.Options) -> Backend { Backend(kind: .uring, uring: options) }
    /// io_uring in `mode`, other options default: `.uring(mode: .completion)`.
    public static func uring(mode: URingPoller.Mode) -> Backend { Backend(kind: .uring, uring: .init(mode: mode)) }

    public var description: String {
        switch kind {
        case .epoll: return "epoll"
        case .uring: return "uring(\(uring.mode.rawValue),\(uring.setup.rawValue))"
        }
    }

    /// The short name benchmarks and `--backend` use: `epoll`, `uring` (multishot,
    /// the default mode), `uring-oneshot`, `uring-completion`.
    public var label: String {
        switch kind {
        case .epoll: return "epoll"
        case .uring: return uring.mode == .multishot ? "uring" : "uring-\(uring.mode.rawValue)"
        }
    }

    /// A fresh poller of this kind: the one place a backend becomes a poller (event
    /// loops, `netpoll info`, tests and benchmarks all come here). For io_uring,
    /// call it on the thread that will use the poller (SINGLE_ISSUER binds the ring
    /// to its creator).
    public func makePoller() throws(NetpollError) -> any Poller {
        switch kind {
        case .epoll: return try EpollPoller(options: epoll)
        case .uring: return try URingPoller(options: uring)
        }
    }
}
