import Netpoll
import NetpollTools

/// How the CLI checks its options: each one parses through a rule below
/// (ArgumentParser's `transform:`), so a bad value stops the command before it
/// does anything, with
///
/// ```
/// Error: The value '0' is invalid for '--loops <loops>': must be a whole number from 1 to 1024
/// ```
///
/// The rules live with what they protect: loop counts and backend names in the
/// library's `Settings` (the same ones `NETPOLL_*` variables go through), the
/// load client's in `LoadOptions` (which `netpoll load` and `netpoll bench` both
/// feed), the echo server's own (port, buffer, host, timeouts) here.
enum OptionRules {
    typealias Parse<T> = @Sendable (String) throws -> T

    /// Thrown by a rule; ArgumentParser prints its description (what is allowed)
    /// after the option and the value.
    struct NotAllowed: Error, CustomStringConvertible {
        let description: String

        init(_ error: NetpollError) {
            if case .invalidSetting(_, _, let allowed) = error { description = allowed } else { description = "\(error)" }
        }

        init(_ error: LoadError) {
            if case .invalidOption(_, _, let allowed) = error { description = allowed } else { description = "\(error)" }
        }
    }

    // MARK: the echo server's own

    /// TCP port to listen on; 0 asks the kernel for a free one.
    static let port = 0...65535
    /// Per-connection buffer: 1 byte to 16 MiB.
    static let maxBufferSize = 16 << 20
    static let bufferSize = 1...maxBufferSize
    /// Idle and write timeouts: 0 (off) to a week.
    static let timeout = NumberRule(from: 0, to: LoadOptions.maxSeconds, unit: "seconds")
    /// `bench --repeat`.
    static let repeats = 1...1000

    // MARK: parsers

    /// A whole number in `range`, worded as the library words `NETPOLL_LOOPS`.
    static func wholeNumber(_ range: ClosedRange<Int>) -> Parse<Int> {
        { text in try library { () throws(NetpollError) in try Settings.wholeNumber(text, name: "", in: range) } }
    }

    /// Event loops: the library's rule (`Settings.loops`, as `NETPOLL_LOOPS`).
    static let loops: Parse<Int> = wholeNumber(Settings.loops)

    /// A backend name, as `NETPOLL_BACKEND`.
    static let backend: Parse<Backend.Choice> = { text in
        try library { () throws(NetpollError) in try Backend.Choice(parsing: text, name: "--backend") }
    }

    /// Comma-separated backend names (`bench --backends`); empty means none. An
    /// io_uring backend may name its optional features after a `+`, as
    /// `NETPOLL_URING_FEATURES` takes them (`uring-completion+accept+min-wait`,
    /// `uring+none`), so one run can compare a feature on and off.
    static let backendList: Parse<[String]> = { text in
        try commaSeparated(text).map { spec in
            let parts = spec.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
            let name = parts[0]
            let choice: Backend.Choice
            do throws(NetpollError) { choice = try Backend.Choice(parsing: name, name: "--backends") } catch {
                throw NotAllowed(description: "\(name.debugDescription) is not allowed: each \(NotAllowed(error).description)")
            }
            guard parts.count > 1 else { return spec }
            guard choice != .epoll else {
                throw NotAllowed(description: "\(spec.debugDescription) is not allowed: epoll has no io_uring features")
            }
            do throws(NetpollError) {
                _ = try URingPoller.Features(parsing: parts.dropFirst().joined(separator: ","), name: "--backends")
            } catch {
                throw NotAllowed(description: "\(spec.debugDescription) is not allowed: after `+`, \(URingPoller.Features.rule)")
            }
            return spec
        }
    }

    /// A host to listen on. Empty is refused: it would silently listen on every
    /// interface; say `0.0.0.0` or `::` for that.
    static let host: Parse<String> = { text in
        guard !text.isEmpty else { throw NotAllowed(description: "must not be empty (use 0.0.0.0 or :: to listen on every interface)") }
        return text
    }

    /// A number (seconds, a rate) by `rule`.
    static func number(_ rule: NumberRule) -> Parse<Double> {
        { text in try tools { () throws(LoadError) in try rule.parse(text, option: "") } }
    }

    /// A whole number by a load-client rule.
    static func count(_ rule: WholeNumberRule) -> Parse<Int> {
        { text in try tools { () throws(LoadError) in try rule.parse(text, option: "") } }
    }

    /// Comma-separated whole numbers, each by `rule`; at least one.
    static func countList(_ rule: WholeNumberRule) -> Parse<[Int]> {
        { text in
            let parts = commaSeparated(text)
            guard !parts.isEmpty else { throw NotAllowed(description: "must list at least one number; each \(rule.allowed)") }
            return try parts.map { part in
                do throws(LoadError) { return try rule.parse(part, option: "") } catch {
                    throw NotAllowed(description: "\(part.debugDescription) is not allowed: each \(rule.allowed)")
                }
            }
        }
    }

    /// A load target's form (not resolved here): the library's address rules.
    static let target: Parse<String> = { text in
        try tools { () throws(LoadError) in try Endpoint.checkSyntax(text) }
        return text
    }

    static func commaSeparated(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingWhitespace }
            .filter { !$0.isEmpty }
    }

    private static func library<T>(_ body: () throws(NetpollError) -> T) throws -> T {
        do throws(NetpollError) { return try body() } catch { throw NotAllowed(error) }
    }

    private static func tools<T>(_ body: () throws(LoadError) -> T) throws -> T {
        do throws(LoadError) { return try body() } catch { throw NotAllowed(error) }
    }
}

extension OptionRules.NotAllowed {
    init(description: String) { self.description = description }
}

extension Substring {
    fileprivate var trimmingWhitespace: String {
        var s = self
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
