import Netpoll
import NetpollTools
#if canImport(Glibc)
import Glibc
#endif

/// What `netpoll info` reports: the machine, what each backend can do on it, and
/// what the NETPOLL_* environment would select. Collecting it opens and closes a
/// poller per usable backend.
struct MachineReport {
    /// One backend as probed: whether it is usable here and, if so, its features.
    struct BackendRow {
        let name: String
        let backend: Backend
        let availability: Backend.Availability
        let features: PollerFeatures?
        let featureError: String?
    }

    var kernel: String
    var cpus: Int
    var ioUringDisabled: String
    var rows: [BackendRow]
    var selected: String?
    var selectionNote: String?
    var selectionError: String?
    /// What NETPOLL_BACKEND=auto would pick here, and why.
    var autoPick: (backend: String, reason: String)
    var environment: [(String, String)]
    /// Event loops a group started without a count would have, and from where.
    var loops: Int
    var loopsSource: String
    /// The ring size asked for (NETPOLL_URING_ENTRIES or the default), and what
    /// the kernel made of it (from a probed ring; nil where io_uring is unusable).
    var uringEntries: UInt32
    var uringEntriesFromEnvironment: Bool
    var ringSizes: (sq: String, cq: String)?

    static func collect() -> MachineReport {
        // Every NETPOLL_* variable is checked first; the rings probed below use the
        // environment's size and setup (the defaults where it is invalid).
        let dict = Backend.processEnvironment
        let env = Backend.environmentKeys.compactMap { key in dict[key].map { (key, $0) } }
        var settings = Settings.Environment()
        var selected: String?, note: String?, selectionError: String?
        do throws(NetpollError) {
            settings = try Settings.Environment(parsing: dict)
            let r = try Backend.resolve(settings.backend, uring: settings.uring)
            selected = r.backend.description
            note = r.note
        } catch {
            selectionError = error.description
        }

        func ring(_ mode: URingPoller.Mode) -> Backend {
            var options = settings.uring
            options.mode = mode
            return .uring(options)
        }
        let rows: [(String, Backend)] = [
            ("epoll", .epoll),
            ("uring multishot", ring(.multishot)),
            ("uring oneshot", ring(.oneshot)),
            ("uring completion", ring(.completion)),
        ]
        var out: [BackendRow] = []
        for (name, backend) in rows {
            let availability = Backend.probe(backend)
            var features: PollerFeatures?
            var featureError: String?
            if availability == .usable {
                do {
                    let poller = try backend.makePoller()
                    // One timed poll so epoll learns whether epoll_pwait2 exists.
                    _ = try poller.poll(timeout: .zero) { _, _ in }
                    features = poller.features
                    poller.close()
                } catch {
                    featureError = "\(error)"
                }
            }
            out.append(BackendRow(name: name, backend: backend, availability: availability, features: features, featureError: featureError))
        }

        let ringFeatures = out.first { $0.backend.kind == .uring && $0.features != nil }?.features
        let ringSizes = ringFeatures.flatMap { f -> (sq: String, cq: String)? in
            let d = Dictionary(f.details, uniquingKeysWith: { a, _ in a })
            guard let sq = d["sq_entries"], let cq = d["cq_entries"] else { return nil }
            return (sq, cq)
        }

        return MachineReport(
            kernel: kernelVersion(),
            cpus: LoopGroup.availableCPUs,
            ioUringDisabled: readFirstLine("/proc/sys/kernel/io_uring_disabled") ?? "absent",
            rows: out,
            selected: selected,
            selectionNote: note,
            selectionError: selectionError,
            autoPick: {
                let pick = Backend.autoSelection(
                    uring: settings.uring, modeExplicit: !(dict["NETPOLL_URING_MODE"] ?? "").isEmpty)
                return (pick.backend.description, pick.reason)
            }(),
            environment: env,
            loops: settings.loopCount,
            loopsSource: settings.loops == nil ? "the CPUs this process may run on" : "NETPOLL_LOOPS",
            uringEntries: settings.uring.entries,
            uringEntriesFromEnvironment: !(dict["NETPOLL_URING_ENTRIES"] ?? "").isEmpty,
            ringSizes: ringSizes)
    }

    /// "sq_entries=256 cq_entries=512 (NETPOLL_URING_ENTRIES=200)"; the kernel rounds
    /// up to a power of two and gives the CQ twice the SQ.
    var ringText: String {
        let asked = uringEntriesFromEnvironment ? "NETPOLL_URING_ENTRIES=\(uringEntries)" : "default size \(uringEntries)"
        guard let ringSizes else { return "\(asked); io_uring unusable here" }
        return "sq_entries=\(ringSizes.sq) cq_entries=\(ringSizes.cq) (\(asked))"
    }

    var table: String {
        var lines: [String] = []
        func row(_ key: String, _ value: String) {
            lines.append(key.padding(toLength: 26, withPad: " ", startingAt: 0) + value)
        }
        row("kernel", kernel)
        row("cpus (affinity)", String(cpus))
        row("kernel.io_uring_disabled", ioUringDisabled)
        lines.append("")
        lines.append("backend".padding(toLength: 18, withPad: " ", startingAt: 0) + "usable  details")
        for r in rows {
            let usable: String
            let details: String
            switch r.availability {
            case .usable:
                usable = "yes"
                details = r.features.map { $0.details.map { "\($0.0)=\($0.1)" }.joined(separator: " ") } ?? (r.featureError ?? "")
            case .unusable(let reason):
                usable = "no"
                details = reason
            }
            lines.append(r.name.padding(toLength: 18, withPad: " ", startingAt: 0) + usable.padding(toLength: 8, withPad: " ", startingAt: 0) + details)
        }
        lines.append("")
        if environment.isEmpty {
            row("environment", "(no NETPOLL_* variables set)")
        } else {
            row("environment", environment.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
        if let selectionError {
            row("selected backend", "error: \(selectionError)")
        } else {
            row("selected backend", selected ?? "?")
            if let selectionNote { row("note", selectionNote) }
            row("auto would pick", "\(autoPick.backend): \(autoPick.reason)")
            row("event loops", "\(loops) (\(loopsSource))")
            row("io_uring ring", ringText)
        }
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        let backends: [JSONValue] = rows.map { r in
            var members: [(String, JSONValue)] = [("name", .string(r.name)), ("backend", .string(r.backend.description))]
            switch r.availability {
            case .usable:
                members.append(("usable", .bool(true)))
                if let f = r.features {
                    members.append(("features", .object([("backend", .string(f.backend))] + f.details.map { ($0.0, JSONValue.string($0.1)) })))
                }
                if let e = r.featureError { members.append(("featureError", .string(e))) }
            case .unusable(let reason):
                members.append(("usable", .bool(false)))
                members.append(("reason", .string(reason)))
            }
            return .object(members)
        }
        var selection: [(String, JSONValue)] = [
            ("environment", .object(environment.map { ($0.0, JSONValue.string($0.1)) })),
        ]
        if let selectionError {
            selection.append(("error", .string(selectionError)))
        } else {
            selection.append(("backend", selected.map(JSONValue.string) ?? .null))
            selection.append(("note", selectionNote.map(JSONValue.string) ?? .null))
            selection.append(("auto", .object([("backend", .string(autoPick.backend)), ("reason", .string(autoPick.reason))])))
            selection.append(("loops", .int(loops)))
            selection.append(("uringEntries", .int(Int(uringEntries))))
            selection.append(("sqEntries", ringSizes.flatMap { Int($0.sq) }.map(JSONValue.int) ?? .null))
            selection.append(("cqEntries", ringSizes.flatMap { Int($0.cq) }.map(JSONValue.int) ?? .null))
        }
        return .object([
            ("kernel", .string(kernel)),
            ("cpus", .int(cpus)),
            ("ioUringDisabled", .string(ioUringDisabled)),
            ("backends", .array(backends)),
            ("selection", .object(selection)),
        ])
    }
}

private func kernelVersion() -> String {
    var u = utsname()
    guard uname(&u) == 0 else { return "unknown" }
    func field<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
}

private func readFirstLine(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 256)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    let text = String(decoding: buf[0..<n], as: UTF8.self)
    return text.split(separator: "\n").first.map(String.init) ?? ""
}
