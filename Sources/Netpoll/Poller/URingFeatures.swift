import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The io_uring features a ring may use beyond its mode: each probed once per process
// (the kernel does not change under us), used where the kernel has it, and
// switchable off with NETPOLL_URING_FEATURES or Options.features.
extension URingPoller {
    /// One optional io_uring feature.
    public enum Feature: String, Sendable, CaseIterable, Hashable, Comparable {
        /// Listeners accept through one multishot `IORING_OP_ACCEPT` (Linux 5.19+):
        /// accepted sockets arrive as completions, several per wakeup, with no
        /// accept4(2) and no readiness event for the listener.
        case accept
        /// A loop that sleeps asks the kernel for a batch: it wakes when
        /// ``Options/minWaitBatch`` completions are there, or after
        /// ``Options/minWaitMicros`` with at least one (Linux 6.12,
        /// `IORING_FEAT_MIN_TIMEOUT`): fewer wakeups per message under load, at most
        /// that much more latency when the loop is nearly idle.
        case minWait = "min-wait"
        /// Completion mode's buffer ring is consumed a completion at a time (Linux
        /// 6.12, `IOU_PBUF_RING_INC`): a 64-byte message takes 64 bytes of a buffer,
        /// not a whole one, and the next message (of any connection) goes on in the
        /// same buffer. Fewer pages touched, fewer buffers cycled per message.
        case incrementalBuffers = "inc-buffers"
        /// Every descriptor the ring works on also gets a slot of the ring's
        /// registered file table (updated through the ring, no system call), and
        /// its requests name the slot (`IOSQE_FIXED_FILE`): no descriptor lookup and
        /// no file reference count per request. The descriptor stays an ordinary
        /// one; a full table (``Options/fileTableSlots``) leaves a descriptor
        /// outside it, never an error. Linux 6.13: see URingPoller+FixedFiles.swift.
        case fixedFiles = "fixed-files"

        /// What it is, in the kernel's terms.
        public var kernelName: String {
            switch self {
            case .accept: return "multishot IORING_OP_ACCEPT"
            case .minWait: return "io_uring_enter minimum wait, IORING_FEAT_MIN_TIMEOUT"
            case .incrementalBuffers: return "incrementally consumed buffer rings, IOU_PBUF_RING_INC"
            case .fixedFiles: return "registered file table with per-slot references, IOSQE_FIXED_FILE"
            }
        }

        /// The first Linux release that has it.
        public var since: String {
            switch self {
            case .accept: return "5.19"
            case .minWait: return "6.12"
            case .incrementalBuffers: return "6.12"
            case .fixedFiles: return "6.13"
            }
        }

        /// The features `auto` uses where the kernel has them: those the committed
        /// A/B measurements show paying (docs/performance-log.md). None yet: each
        /// joins when its A/B is measured on a quiet machine; until then it is there
        /// to be asked for by name.
        public static let measuredToPay: Set<Feature> = []

        public static func < (a: Feature, b: Feature) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }

        /// Whether this kernel has the feature: nil, or the reason it cannot be used.
        /// Probed once per process.
        var unsupportedReason: String? {
            Self.probes.locked { cache in
                if let known = cache[self] { return known }
                let reason = probe()
                cache[self] = .some(reason)
                return reason
            }
        }

        private static let probes = Mutex<[Feature: String?]>([:])

        private func probe() -> String? {
            switch self {
            case .accept:
                let rc = cnp_probe_multishot_accept()
                if rc == 0 { return nil }
                return "io_uring feature `accept` (\(kernelName)) needs Linux \(since)+; the probe answered \(String(cString: strerror(-rc)))"
            case .minWait:
                var ring: OpaquePointer?
                let rc = cnp_ring_create(2, 0, &ring)
                guard rc == 0, let ring else {
                    return "io_uring feature `min-wait` could not be probed: io_uring_setup answered \(String(cString: strerror(-rc)))"
                }
                defer { cnp_ring_destroy(ring) }
                if cnp_ring_features(ring) & CNP_FEAT_MIN_TIMEOUT != 0 { return nil }
                return "io_uring feature `min-wait` (\(kernelName)) needs Linux \(since)+"
            case .incrementalBuffers:
                let rc = cnp_probe_incremental_buffers()
                if rc == 0 { return nil }
                return "io_uring feature `inc-buffers` (\(kernelName)) needs Linux \(since)+; the probe answered \(String(cString: strerror(-rc)))"
            case .fixedFiles:
                // The operations are older than what makes them safe here (per-slot
                // references, 6.13), and that cannot be probed without waiting for a
                // FIN that never comes: the release decides.
                guard let release = Self.kernelRelease(), release >= (6, 13) else {
                    return "io_uring feature `fixed-files` (\(kernelName)) needs Linux \(since)+"
                }
                let rc = cnp_probe_fixed_files()
                if rc == 0 { return nil }
                return "io_uring feature `fixed-files` (\(kernelName)) needs Linux \(since)+; the probe answered \(String(cString: strerror(-rc)))"
            }
        }

        /// The running kernel's major and minor release (uname), if it parses.
        static func kernelRelease() -> (Int, Int)? {
            var u = utsname()
            guard uname(&u) == 0 else { return nil }
            let release = withUnsafeBytes(of: &u.release) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
    }

    /// Which optional features to use (`NETPOLL_URING_FEATURES`).
    public enum Features: Sendable, Hashable, CustomStringConvertible {
        /// Each of ``Feature/measuredToPay`` that this kernel has; the others silently not.
        case auto
        /// Exactly these; one the kernel lacks is an error naming it and its Linux release.
        case exactly(Set<Feature>)

        /// Parses `auto`, `none` or a comma-separated list of feature names.
        public init(parsing text: String, name: String) throws(NetpollError) {
            let t = text.lowercased()
            if t == "auto" { self = .auto; return }
            if t == "none" { self = .exactly([]); return }
            var set = Set<Feature>()
            for part in t.split(separator: ",", omittingEmptySubsequences: false) {
                guard let f = Feature(rawValue: String(part)) else {
                    throw .invalidSetting(name: name, value: text, allowed: Self.rule)
                }
                set.insert(f)
            }
            self = .exactly(set)
        }

        public static var rule: String {
            "must be auto, none, or a comma-separated list of " + Feature.allCases.map(\.rawValue).joined(separator: ", ")
        }

        public var description: String {
            switch self {
            case .auto: return "auto"
            case .exactly(let s): return s.isEmpty ? "none" : s.sorted().map(\.rawValue).joined(separator: ",")
            }
        }
    }

    /// Resolves `wanted` against this kernel: the features to use and, per feature,
    /// what `netpoll info` says of it. Throws for an explicit feature the kernel lacks.
    /// `lacking` answers why a feature cannot be used (nil: it can); tests pass their own.
    static func resolve(
        _ wanted: Features, lacking: (Feature) -> String? = { $0.unsupportedReason }
    ) throws(NetpollError) -> (used: Set<Feature>, status: [(Feature, String)]) {
        var used = Set<Feature>()
        var status: [(Feature, String)] = []
        for f in Feature.allCases {
            let asked: Bool
            switch wanted {
            case .auto: asked = Feature.measuredToPay.contains(f)
            case .exactly(let s): asked = s.contains(f)
            }
            guard asked else {
                status.append((f, "off (by setting)"))
                continue
            }
            if let reason = lacking(f) {
                if case .exactly = wanted { throw .backendUnavailable(backend: "uring", reason: reason) }
                status.append((f, "not in this kernel (needs Linux \(f.since)+)"))
                continue
            }
            used.insert(f)
            status.append((f, "used"))
        }
        return (used, status)
    }
}
