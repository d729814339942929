import CNetpoll

/// The rules for every setting Netpoll takes, in one place: the `NETPOLL_*`
/// variables (``Environment``), the parameters of ``LoopGroup`` and the `netpoll`
/// CLI's options that map to them all go through these helpers, so a value is
/// judged the same way whichever way it arrives. A value outside its rule is
/// ``NetpollError/invalidSetting(name:value:allowed:)``, which names the variable,
/// option or parameter, the value, and what is allowed:
///
/// ```
/// invalid NETPOLL_LOOPS "abc": must be a whole number from 1 to 1024
/// ```
///
/// The variables, their rules and defaults are ``variables``; the README and the
/// DocC catalog show ``environmentTable``, and a test keeps their copies equal to it.
///
/// Names are matched without regard to case; an empty variable counts as unset.
public enum Settings {
    /// The most event loops one ``LoopGroup`` may have.
    public static let maxLoops = 1024
    /// Event loops in a group: `NETPOLL_LOOPS`, `LoopGroup(loops:)`, `--loops`.
    public static let loops: ClosedRange<Int> = 1...maxLoops
    /// io_uring submission queue entries (`NETPOLL_URING_ENTRIES`): up to the
    /// kernel's `IORING_MAX_ENTRIES`. The kernel rounds the size up to a power of
    /// two, and the completion queue is twice that.
    public static let uringEntries: ClosedRange<Int> = 1...32768

    // MARK: the variables

    /// One `NETPOLL_*` variable as the documentation shows it.
    public struct Variable: Sendable, Hashable {
        public let name: String
        /// What it accepts.
        public let rule: String
        public let defaultValue: String
    }

    /// Every `NETPOLL_*` variable, in the order they are parsed (the first bad one
    /// is the error). Values and defaults come from the types that parse them, so
    /// this table cannot fall behind a new backend or mode.
    public static let variables: [Variable] = {
        let defaults = Environment()
        func names<C: CaseIterable & RawRepresentable>(_: C.Type) -> String where C.RawValue == String {
            C.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", ")
        }
        return [
            Variable(name: "NETPOLL_BACKEND", rule: names(Backend.Choice.self) + " (a `uring-MODE` value forces that io_uring mode)",
                     defaultValue: "`\(defaults.backend.rawValue)` (Go's behaviour)"),
            Variable(name: "NETPOLL_URING_MODE", rule: names(URingPoller.Mode.self), defaultValue: "`\(defaults.uring.mode.rawValue)`"),
            Variable(name: "NETPOLL_URING_SETUP", rule: names(URingPoller.Setup.self) + " (each falls back flag by flag)",
                     defaultValue: "`\(defaults.uring.setup.rawValue)`"),
            Variable(name: "NETPOLL_URING_ENTRIES", rule: "SQ entries per ring, \(uringEntries.lowerBound)...\(uringEntries.upperBound) (rounded up to a power of two; the CQ has twice as many)",
                     defaultValue: "\(defaults.uring.entries)"),
            Variable(name: "NETPOLL_URING_FEATURES",
                     rule: "`auto`, `none` or a comma-separated list of " + URingPoller.Feature.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", ")
                        + " (a listed feature this kernel lacks is an error; `auto` uses those measured to pay, where the kernel has them)",
                     defaultValue: "`\(defaults.uring.features)`"),
            Variable(name: "NETPOLL_LOOPS", rule: "event loops of a group, \(loops.lowerBound)...\(loops.upperBound)",
                     defaultValue: "CPUs this process may run on"),
        ]
    }()

    /// ``variables`` as a Markdown table: the one the README and DocC show.
    public static var environmentTable: String {
        (["| variable | values | default |", "|---|---|---|"]
            + variables.map { "| `\($0.name)` | \($0.rule) | \($0.defaultValue) |" }).joined(separator: "\n")
    }

    // MARK: rules

    /// "must be a whole number from 1 to 1024"
    public static func allowed(_ range: ClosedRange<Int>) -> String {
        "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
    }

    /// "must be one of epoll, uring, auto"
    public static func allowed(oneOf names: [String]) -> String {
        "must be one of \(names.joined(separator: ", "))"
    }

    /// The whole number `text` if it lies in `range`; else
    /// ``NetpollError/invalidSetting(name:value:allowed:)`` naming `name`.
    public static func wholeNumber(_ text: String, name: String, in range: ClosedRange<Int>) throws(NetpollError) -> Int {
        guard let n = Int(text), range.contains(n) else {
            throw .invalidSetting(name: name, value: text, allowed: allowed(range))
        }
        return n
    }

    /// `value` if it lies in `range`; else the error naming `name`.
    public static func check(_ value: Int, name: String, in range: ClosedRange<Int>) throws(NetpollError) -> Int {
        guard range.contains(value) else {
            throw .invalidSetting(name: name, value: String(value), allowed: allowed(range))
        }
        return value
    }

    /// The case of `C` whose raw value is `text` (any case); else the error naming
    /// `name` and every valid value.
    public static func choice<C: CaseIterable & RawRepresentable>(_ text: String, name: String, as type: C.Type = C.self)
        throws(NetpollError) -> C where C.RawValue == String
    {
        guard let c = C(rawValue: text.lowercased()) else {
            throw .invalidSetting(name: name, value: text, allowed: allowed(oneOf: C.allCases.map(\.rawValue)))
        }
        return c
    }

    // MARK: the environment

    /// Everything the `NETPOLL_*` variables select, parsed and checked. Parsing
    /// probes nothing: whether io_uring can be used is ``Backend/resolve(_:uring:)``'s
    /// question. Every variable is checked whichever backend is chosen, so a bad
    /// `NETPOLL_URING_MODE` is reported as such under epoll too.
    public struct Environment: Sendable, Hashable {
        public var backend: Backend.Choice
        /// Ring options from `NETPOLL_URING_*`; used when the backend is io_uring.
        public var uring: URingPoller.Options
        /// `NETPOLL_LOOPS`; nil when unset.
        public var loops: Int?

        public init(backend: Backend.Choice = .epoll, uring: URingPoller.Options = .init(), loops: Int? = nil) {
            self.backend = backend
            self.uring = uring
            self.loops = loops
        }

        /// Parses an environment (a dictionary, such as ``Backend/processEnvironment``,
        /// so tests and the CLI can pass their own). The first bad variable, in the
        /// order of ``Backend/environmentKeys``, is the error.
        public init(parsing env: [String: String]) throws(NetpollError) {
            func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
            self.init()
            if let v = value("NETPOLL_BACKEND") { backend = try Settings.choice(v, name: "NETPOLL_BACKEND") }
            if let v = value("NETPOLL_URING_MODE") { uring.mode = try Settings.choice(v, name: "NETPOLL_URING_MODE") }
            if let v = value("NETPOLL_URING_SETUP") { uring.setup = try Settings.choice(v, name: "NETPOLL_URING_SETUP") }
            if let v = value("NETPOLL_URING_ENTRIES") {
                uring.entries = UInt32(try Settings.wholeNumber(v, name: "NETPOLL_URING_ENTRIES", in: Settings.uringEntries))
            }
            if let v = value("NETPOLL_URING_FEATURES") {
                uring.features = try URingPoller.Features(parsing: v, name: "NETPOLL_URING_FEATURES")
            }
            if let v = value("NETPOLL_LOOPS") { loops = try Settings.wholeNumber(v, name: "NETPOLL_LOOPS", in: Settings.loops) }
        }

        /// The size of a group started without an explicit count: `NETPOLL_LOOPS`,
        /// else the CPUs this process may run on (at most ``Settings/maxLoops``).
        public var loopCount: Int {
            loops ?? min(max(1, Int(cnp_cpu_count())), Settings.maxLoops)
        }
    }
}
