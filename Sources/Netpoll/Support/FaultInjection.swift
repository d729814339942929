#if FaultInjection
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Seeded lies at the errno door and the ring, for tests (scripts/test-faults).
/// Compiled only with the package trait `FaultInjection` (off by
/// default: a release build has neither this file nor any hook), and active only
/// when `NETPOLL_FAULTS` is set:
///
///     NETPOLL_FAULTS=SEED[:RATE[:KINDS]]
///
/// SEED a whole number (decimal, or hex with `0x`); RATE the chance, from 0 to 1,
/// that one draw injects a fault (default 0.01); KINDS a comma-separated list of
/// ``Kinds`` names, `default` or `all` (default: `default`). The first hook that
/// asks prints `netpoll: fault injection on, NETPOLL_FAULTS=…` to stderr, in the
/// form that reproduces the run.
///
/// Each site kind (``Site``) draws its own sequence: the n-th draw at a site is
/// SplitMix64's n-th output from a state made of SEED and the site, taken from an
/// atomic counter. So a seed fixes what each site's n-th call is told; which call
/// is the n-th still depends on how the threads interleave.
///
/// What is injected is what the kernel may answer, and each hook says why its lie
/// is one the code must survive (the hooks: FD+FaultInjection.swift,
/// URingPoller+FaultInjection.swift). Kinds that turn a healthy connection into a
/// failed one (`econnreset`, `enobufs`) are not in `default`: under them a test
/// that checks every byte fails by design; they check that the error surfaces
/// cleanly (no hang, no crash).
enum FaultInjection {
    /// Where faults are drawn; each has its own sequence of draws.
    enum Site: Int, CaseIterable, Sendable {
        /// A read, readv, recvmsg or splice from a socket or pipe (the FD loops).
        case read
        /// A send, write, writev, sendto, sendfile or splice into one.
        case write
        /// accept4 on a listener.
        case accept
        /// A non-blocking connect's wait for completion.
        case connect
        /// An io_uring POLL_ADD completion.
        case pollCQE
        /// An io_uring multishot RECV completion (completion mode).
        case recvCQE
        /// An io_uring ring being set up: its size.
        case ringSetup
        /// Any other call through the errno door that retries EINTR
        /// (`NetpollError.check`: socket options, bind, getsockopt(SO_ERROR), …).
        case call

        /// The kinds that apply here.
        var kinds: Kinds {
            switch self {
            case .read: return [.eintr, .eagain, .short, .econnreset]
            case .write: return [.eintr, .eagain, .short, .enobufs]
            case .accept: return [.eintr, .eagain, .econnaborted]
            case .connect: return [.eagain]
            case .pollCQE: return [.ringCanceled]
            case .recvCQE: return [.ringCanceled, .ringNoBuffers]
            case .ringSetup: return [.ringOverflow]
            case .call: return [.eintr]
            }
        }
    }

    /// What may be injected.
    struct Kinds: OptionSet, Hashable, Sendable {
        let rawValue: UInt32
        /// The call answers EINTR without running: retried at once.
        static let eintr = Kinds(rawValue: 1 << 0)
        /// The call answers EAGAIN without running (a spurious wakeup follows, see
        /// FD+FaultInjection.swift); a connect's wait wakes early.
        static let eagain = Kinds(rawValue: 1 << 1)
        /// A stream read or write is given fewer bytes to move than asked.
        static let short = Kinds(rawValue: 1 << 2)
        /// accept4 answers ECONNABORTED (a connection reset while queued): skipped.
        static let econnaborted = Kinds(rawValue: 1 << 3)
        /// A multishot poll or RECV is cancelled in the kernel: it ends with
        /// -ECANCELED; a fired one-shot poll reports -ECANCELED instead of its mask.
        static let ringCanceled = Kinds(rawValue: 1 << 4)
        /// A RECV cancelled as above ends with -ENOBUFS (its buffer ring "ran dry").
        static let ringNoBuffers = Kinds(rawValue: 1 << 5)
        /// Rings are set up small (1, 4 or 16 SQ entries for three rings in four), so
        /// the SQ fills and the CQ overflows for real whenever a few events come at once.
        static let ringOverflow = Kinds(rawValue: 1 << 6)
        /// A read fails with ECONNRESET. Not in `default`.
        static let econnreset = Kinds(rawValue: 1 << 7)
        /// A write fails with ENOBUFS. Not in `default`.
        static let enobufs = Kinds(rawValue: 1 << 8)

        static let standard: Kinds = [.eintr, .eagain, .short, .econnaborted, .ringCanceled, .ringNoBuffers, .ringOverflow]
        static let all: Kinds = standard.union([.econnreset, .enobufs])

        /// Each kind by its name in `KINDS`, in bit order.
        static let names: [(String, Kinds)] = [
            ("eintr", .eintr), ("eagain", .eagain), ("short", .short), ("econnaborted", .econnaborted),
            ("ring-ecanceled", .ringCanceled), ("ring-enobufs", .ringNoBuffers), ("ring-overflow", .ringOverflow),
            ("econnreset", .econnreset), ("enobufs", .enobufs),
        ]

        /// The errno a kind answers with; nil for `short` and `ringOverflow`.
        var errno: Int32? {
            switch self {
            case .eintr: return EINTR
            case .eagain: return EAGAIN
            case .econnaborted: return ECONNABORTED
            case .ringCanceled: return ECANCELED
            case .ringNoBuffers, .enobufs: return ENOBUFS
            case .econnreset: return ECONNRESET
            default: return nil
            }
        }
    }

    /// One run's choice.
    struct Config: Hashable, Sendable, CustomStringConvertible {
        var seed: UInt64
        var rate: Double
        var kinds: Kinds

        static let defaultRate = 0.01

        /// `SEED:RATE:KINDS`, the value that reproduces this run.
        var description: String {
            let names = kinds == .standard ? "default"
                : kinds == .all ? "all"
                : Kinds.names.filter { kinds.contains($0.1) }.map(\.0).joined(separator: ",")
            return "\(seed):\(rate):\(names)"
        }
    }

    static let variable = "NETPOLL_FAULTS"
    static let allowed = "must be SEED[:RATE[:KINDS]]: SEED a whole number (or 0x hex), RATE from 0 to 1, "
        + "KINDS a comma-separated list of " + Kinds.names.map(\.0).joined(separator: ", ") + ", default or all"

    /// Parses a `NETPOLL_FAULTS` value; nil for an empty one (injection off).
    static func parse(_ text: String) throws(NetpollError) -> Config? {
        if text.isEmpty { return nil }
        let bad = NetpollError.invalidSetting(name: variable, value: text, allowed: allowed)
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 3 else { throw bad }
        let s = parts[0].lowercased()
        let seed = s.hasPrefix("0x") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s)
        guard let seed else { throw bad }
        var config = Config(seed: seed, rate: Config.defaultRate, kinds: .standard)
        if parts.count > 1 {
            guard let r = Double(parts[1]), r.isFinite, r >= 0, r <= 1 else { throw bad }
            config.rate = r
        }
        if parts.count > 2 {
            var kinds = Kinds()
            for name in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                switch name.lowercased() {
                case "default": kinds.formUnion(.standard)
                case "all": kinds.formUnion(.all)
                case let n:
                    guard let k = Kinds.names.first(where: { $0.0 == n })?.1 else { throw bad }
                    kinds.formUnion(k)
                }
            }
            config.kinds = kinds
        }
        return config
    }

    /// The run in force: a test's override (``overriding(_:_:)``), else the
    /// environment's.
    static var config: Config? {
        override.withLock { $0 } ?? environment
    }

    private static let override = Mutex<Config?>(nil)

    /// Runs `body` with `config` in force instead of the environment's (tests that
    /// need a kind the run does not inject, such as `econnreset`). Process-wide:
    /// only for tests that run alone (the serialized suites).
    static func overriding<R>(_ config: Config, _ body: () async throws -> R) async rethrows -> R {
        override.withLock { $0 = config }
        defer { override.withLock { $0 = nil } }
        return try await body()
    }

    /// `NETPOLL_FAULTS`: parsed once, on the first hook's question. A bad value
    /// ends the process (status 2) with the setting's error (a test run must not go on
    /// believing it injects what it does not).
    static let environment: Config? = {
        guard let p = getenv(variable) else { return nil }
        do {
            guard let c = try parse(String(cString: p)) else { return nil }
            printToStderr("netpoll: fault injection on, \(variable)=\(c)")
            atexit { FaultInjection.printTally() }
            return c
        } catch {
            // The value is the user's input, not a broken invariant: no trap. Stop
            // with the setting's error and a failing status, as the CLI does.
            printToStderr("netpoll: \(error)")
            exit(2)
        }
    }()

    // MARK: draws

    /// SplitMix64's `index`-th output from the state that `seed` and `site` give.
    static func draw(seed: UInt64, site: Site, index: UInt64) -> UInt64 {
        let start = seed ^ (UInt64(site.rawValue + 1) &* 0xD1B5_4A32_D192_ED03)
        var z = start &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The kind a draw picks among `candidates`, or nil: the top 53 bits decide
    /// whether it fires (with probability `rate`), the low 16 which kind.
    static func pick(_ draw: UInt64, rate: Double, among candidates: Kinds) -> Kinds? {
        guard !candidates.isEmpty, Double(draw >> 11) * 0x1p-53 < rate else { return nil }
        let list = Kinds.names.map(\.1).filter { candidates.contains($0) }
        return list[Int(draw & 0xFFFF) % list.count]
    }

    /// The kind of errno fault the draw tells the call at `site` to answer with instead of running, or nil.
    static func errnoFault(draw: UInt64, at site: Site, _ config: Config) -> Kinds? {
        pick(draw, rate: config.rate, among: site.kinds.intersection(config.kinds).subtracting([.short, .ringOverflow]))
    }

    /// The errno the draw tells the call at `site` to answer instead of running, or nil.
    static func injectedErrno(draw: UInt64, at site: Site, _ config: Config) -> Int32? {
        errnoFault(draw: draw, at: site, config)?.errno
    }

    /// The byte count the draw lets a call asking for `count` move: `count`, or
    /// (a `short` fault) fewer, at least 1.
    static func shortCount(_ count: Int, draw: UInt64, at site: Site, _ config: Config) -> Int {
        guard count > 1, pick(draw, rate: config.rate, among: site.kinds.intersection(config.kinds).intersection(.short)) != nil
        else { return count }
        return 1 + Int((draw >> 16) % UInt64(count - 1))
    }

    /// The SQ entries a ring asking for `entries` gets (``Kinds/ringOverflow``).
    static func ringEntries(_ entries: UInt32, draw: UInt64, _ config: Config) -> UInt32 {
        guard config.kinds.contains(.ringOverflow) else { return entries }
        let small: [UInt32] = [1, 4, 16, entries]
        return min(entries, small[Int(draw % 4)])
    }

    // Each site's draws so far.
    private static let readDraws = Atomic<UInt64>(0)
    private static let writeDraws = Atomic<UInt64>(0)
    private static let acceptDraws = Atomic<UInt64>(0)
    private static let connectDraws = Atomic<UInt64>(0)
    private static let pollDraws = Atomic<UInt64>(0)
    private static let recvDraws = Atomic<UInt64>(0)
    private static let setupDraws = Atomic<UInt64>(0)
    private static let callDraws = Atomic<UInt64>(0)

    /// The next draw of `site`'s sequence.
    static func next(_ site: Site, _ config: Config) -> UInt64 {
        let index: UInt64
        switch site {
        case .read: index = readDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .write: index = writeDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .accept: index = acceptDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .connect: index = connectDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .pollCQE: index = pollDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .recvCQE: index = recvDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .ringSetup: index = setupDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        case .call: index = callDraws.wrappingAdd(1, ordering: .relaxed).oldValue
        }
        return draw(seed: config.seed, site: site, index: index)
    }

    /// Faults injected so far, by kind (in ``Kinds/names`` order).
    private static let tally = Mutex<[Int]>(Array(repeating: 0, count: Kinds.names.count))

    private static func record(_ kind: Kinds) {
        guard let i = Kinds.names.firstIndex(where: { $0.1 == kind }) else { return }
        tally.withLock { $0[i] += 1 }
    }

    /// At exit: how many faults of each kind the run injected, so a log shows that
    /// the run did inject (and which seed it was).
    static func printTally() {
        guard let c = environment else { return }
        let counts = tally.withLock { $0 }
        let list = zip(Kinds.names, counts).filter { c.kinds.contains($0.0.1) }.map { "\($0.0.0) \($0.1)" }
        printToStderr("netpoll: fault injection (\(variable)=\(c)) injected: \(list.joined(separator: ", "))")
    }

    // MARK: what the hooks ask

    /// An errno for the call at `site` to answer instead of running, or nil: run it.
    static func inject(_ site: Site) -> Int32? {
        guard let c = config, let kind = errnoFault(draw: next(site, c), at: site, c) else { return nil }
        record(kind)
        return kind.errno
    }

    /// How many of `count` bytes the stream read or write at `site` may move.
    static func shortCount(_ count: Int, at site: Site) -> Int {
        guard let c = config, count > 1, c.kinds.contains(.short) else { return count }
        let n = shortCount(count, draw: next(site, c), at: site, c)
        if n < count { record(.short) }
        return n
    }

    /// The SQ size a new ring asking for `entries` is given.
    static func ringEntries(_ entries: UInt32) -> UInt32 {
        guard let c = config else { return entries }
        let n = ringEntries(entries, draw: next(.ringSetup, c), c)
        if n < entries { record(.ringOverflow) }
        return n
    }
}
#endif
