#if canImport(Glibc)
import Glibc
#endif

/// The one error type of Netpoll, with Go's meanings.
///
/// | case | Go |
/// |---|---|
/// | ``netClosing`` | `net.ErrClosed` / `poll.ErrNetClosing`: "use of closed network connection" |
/// | ``fileClosing`` | `poll.ErrFileClosing`: "use of closed file" |
/// | ``deadlineExceeded`` | `os.ErrDeadlineExceeded` (``isTimeout`` is true) |
/// | ``notPollable`` | `poll.ErrNotPollable` |
/// | ``tooManyConcurrentOperations`` | the `fdMutex` overflow panic, as an error |
/// | ``system(_:_:)`` | a failed system call: which one, and its errno |
/// | ``invalidDescriptor(_:)`` | a descriptor to adopt of the wrong kind (Go: FileConn's EPROTOTYPE / EINVAL) |
/// | ``invalidSetting(name:value:allowed:)`` | a `NETPOLL_*` variable, option or parameter outside its rules (``Settings``) |
public enum NetpollError: Error, Hashable, Sendable, CustomStringConvertible {
    case netClosing
    case fileClosing
    case deadlineExceeded
    case notPollable
    case tooManyConcurrentOperations
    /// A system call failed. `errno` is the raw value (`ECONNRESET`, `ECONNREFUSED`, …).
    case system(_ syscall: String, _ errno: Int32)
    /// An address or host that does not parse or resolve.
    case invalidAddress(String)
    /// A setting outside its rules: `name` is the variable, option or parameter
    /// (`NETPOLL_LOOPS`, `--loops`, `loops`), `value` what was given and `allowed`
    /// what it may be ("must be a whole number from 1 to 1024"). The rules live in
    /// ``Settings``.
    case invalidSetting(name: String, value: String, allowed: String)
    /// The backend asked for cannot be used on this machine; `reason` says why.
    case backendUnavailable(backend: String, reason: String)
    /// A descriptor given to adopt (Go: net.FileConn, net.FileListener) that is not
    /// what the adopting type needs: `reason` says what it is and what was expected.
    case invalidDescriptor(String)

    /// True for a deadline that passed, as Go's `net.Error.Timeout()`.
    public var isTimeout: Bool { self == .deadlineExceeded }

    /// The errno of a ``system(_:_:)`` error, else nil.
    public var errno: Int32? {
        if case .system(_, let e) = self { return e }
        return nil
    }

    public var description: String {
        switch self {
        case .netClosing: return "use of closed network connection"
        case .fileClosing: return "use of closed file"
        case .deadlineExceeded: return "i/o timeout"
        case .notPollable: return "not pollable"
        case .tooManyConcurrentOperations: return "too many concurrent operations on a single file or socket (max 1048575)"
        case .system(let call, let e): return "\(call): \(NetpollError.errnoName(e)) (\(NetpollError.strerror(e)))"
        case .invalidAddress(let what): return "invalid address: \(what)"
        case .invalidSetting(let name, let value, let allowed):
            return "invalid \(name) \(value.debugDescription): \(allowed)"
        case .backendUnavailable(let b, let reason): return "backend \(b) is unavailable: \(reason)"
        case .invalidDescriptor(let reason): return "invalid descriptor: \(reason)"
        }
    }

    static func strerror(_ e: Int32) -> String {
        guard let p = Glibc.strerror(e) else { return "errno \(e)" }
        return String(cString: p)
    }

    /// Symbolic names for the errnos a network program meets, so messages are searchable.
    static func errnoName(_ e: Int32) -> String {
        switch e {
        case EAGAIN: return "EAGAIN"
        case EINTR: return "EINTR"
        case EBADF: return "EBADF"
        case EINVAL: return "EINVAL"
        case EPERM: return "EPERM"
        case EACCES: return "EACCES"
        case ENOSYS: return "ENOSYS"
        case ENOENT: return "ENOENT"
        case ENOMEM: return "ENOMEM"
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case EPIPE: return "EPIPE"
        case ECONNRESET: return "ECONNRESET"
        case ECONNREFUSED: return "ECONNREFUSED"
        case ECONNABORTED: return "ECONNABORTED"
        case ETIMEDOUT: return "ETIMEDOUT"
        case EADDRINUSE: return "EADDRINUSE"
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
        case ENETUNREACH: return "ENETUNREACH"
        case EHOSTUNREACH: return "EHOSTUNREACH"
        case ENOTCONN: return "ENOTCONN"
        case ENOTSOCK: return "ENOTSOCK"
        case EINPROGRESS: return "EINPROGRESS"
        case ECANCELED: return "ECANCELED"
        case EEXIST: return "EEXIST"
        case EBUSY: return "EBUSY"
        case ETIME: return "ETIME"
        case EISCONN: return "EISCONN"
        case ESPIPE: return "ESPIPE"
        case EMSGSIZE: return "EMSGSIZE"
        case EDESTADDRREQ: return "EDESTADDRREQ"
        default: return "errno \(e)"
        }
    }
}
