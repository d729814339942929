/// What one `netpoll load` run does. Parsed by the CLI, validated here so the
/// rules live beside the code that depends on them.
public struct LoadOptions: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Each connection echoes messages back to back (or at `rate`).
        case echo
        /// Each worker slot connects, echoes once, closes, again.
        case churn
    }

    public var target: String
    public var connections: Int
    public var size: Int
    public var durationSeconds: Double
    public var warmupSeconds: Double = 1
    /// Total messages per second across all connections; nil = closed loop.
    public var rate: Double?
    public var threads: Int = 1
    public var mode: Mode = .echo
    /// Each message is an 8-byte request for `size` bytes that the server sends
    /// (see ``Download``) instead of an echo of `size` bytes.
    public var download = false
    /// Idle connections held open for the run (idle-scale scenario).
    public var idleConnections: Int = 0
    public var connectTimeoutSeconds: Double = 5

    public init(target: String, connections: Int, size: Int, durationSeconds: Double) {
        self.target = target
        self.connections = connections
        self.size = size
        self.durationSeconds = durationSeconds
    }

    /// Checks every option by the rules below (the CLI parses with the same ones);
    /// the error names the option, the value and what is allowed.
    public func validate() throws(LoadError) {
        _ = try Self.connectionsRule.check(connections, option: "--connections")
        if connections == 0 && idleConnections == 0 {
            throw .invalidOption(name: "--connections", value: "0", allowed: "must be at least 1 (0 only with --idle)")
        }
        _ = try Self.sizeRule.check(size, option: "--size")
        _ = try Self.durationRule.check(durationSeconds, option: "--duration")
        _ = try Self.warmupRule.check(warmupSeconds, option: "--warmup")
        if let rate { _ = try Self.rateRule.check(rate, option: "--rate") }
        _ = try Self.threadsRule.check(threads, option: "--threads")
        _ = try Self.idleRule.check(idleConnections, option: "--idle")
        _ = try Self.connectTimeoutRule.check(connectTimeoutSeconds, option: "--connect-timeout")
        if mode == .churn && rate != nil { throw .badArgument("--rate is not supported with --churn") }
    }
}

// MARK: rules

extension LoadOptions {
    /// Connections (echo or churn loops, and idle ones): far beyond any descriptor
    /// limit, but a typo of a few extra digits is caught.
    public static let maxConnections = 1_000_000
    public static let connectionsRule = WholeNumberRule(0...maxConnections)
    public static let idleRule = WholeNumberRule(0...maxConnections)
    /// Message size in bytes: 1 byte to 64 MiB.
    public static let sizeRule = WholeNumberRule(1...(64 << 20))
    public static let threadsRule = WholeNumberRule(1...256)
    /// Longest run or warmup: a week.
    public static let maxSeconds = 604_800.0
    public static let durationRule = NumberRule(greaterThan: 0, atMost: maxSeconds, unit: "seconds")
    public static let warmupRule = NumberRule(from: 0, to: maxSeconds, unit: "seconds")
    public static let rateRule = NumberRule(greaterThan: 0, atMost: 1e9, unit: "messages per second")
    public static let connectTimeoutRule = NumberRule(greaterThan: 0, atMost: 3600, unit: "seconds")
}

/// A whole-number option: its range, and the error that names the option, the
/// value and the range (worded as the Netpoll library words its settings).
public struct WholeNumberRule: Sendable {
    public let range: ClosedRange<Int>

    public init(_ range: ClosedRange<Int>) { self.range = range }

    /// "must be a whole number from 1 to 256"
    public var allowed: String { "must be a whole number from \(range.lowerBound) to \(range.upperBound)" }

    public func parse(_ text: String, option: String) throws(LoadError) -> Int {
        guard let n = Int(text), range.contains(n) else {
            throw .invalidOption(name: option, value: text, allowed: allowed)
        }
        return n
    }

    public func check(_ value: Int, option: String) throws(LoadError) -> Int {
        guard range.contains(value) else { throw .invalidOption(name: option, value: String(value), allowed: allowed) }
        return value
    }
}

/// A finite decimal option (seconds, a rate) between two bounds; the lower one
/// included or not.
public struct NumberRule: Sendable {
    public let lower: Double
    public let lowerIncluded: Bool
    public let upper: Double
    public let unit: String

    /// `lower...upper`.
    public init(from lower: Double, to upper: Double, unit: String) {
        self.lower = lower
        self.lowerIncluded = true
        self.upper = upper
        self.unit = unit
    }

    /// Above `lower`, at most `upper`.
    public init(greaterThan lower: Double, atMost upper: Double, unit: String) {
        self.lower = lower
        self.lowerIncluded = false
        self.upper = upper
        self.unit = unit
    }

    /// "must be a number of seconds from 0 to 604800"
    public var allowed: String {
        lowerIncluded
            ? "must be a number of \(unit) from \(Self.format(lower)) to \(Self.format(upper))"
            : "must be a number of \(unit) greater than \(Self.format(lower)) and at most \(Self.format(upper))"
    }

    public func contains(_ value: Double) -> Bool {
        value.isFinite && (lowerIncluded ? value >= lower : value > lower) && value <= upper
    }

    public func parse(_ text: String, option: String) throws(LoadError) -> Double {
        guard let v = Double(text), contains(v) else { throw .invalidOption(name: option, value: text, allowed: allowed) }
        return v
    }

    public func check(_ value: Double, option: String) throws(LoadError) -> Double {
        guard contains(value) else { throw .invalidOption(name: option, value: Self.format(value), allowed: allowed) }
        return value
    }

    static func format(_ v: Double) -> String {
        v.isFinite && v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
