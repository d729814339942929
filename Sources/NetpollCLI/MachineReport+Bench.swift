import Foundation

/// The machine as the bench's HTML report shows it: what `netpoll info` knows,
/// plus what a reader of someone else's numbers asks first (which CPU, how much
/// memory, how busy the machine was when the run started).
extension MachineReport {
    func benchRows() -> [(String, String)] {
        var rows: [(String, String)] = [("kernel", kernel)]
        if let model = Self.procField("/proc/cpuinfo", "model name") { rows.append(("cpu", model)) }
        rows.append(("cpus (affinity)", String(cpus)))
        if let memory = Self.procField("/proc/meminfo", "MemTotal") { rows.append(("memory", memory)) }
        if let load = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
            rows.append(("load average at start", load.split(separator: " ").prefix(3).joined(separator: " ")))
        }
        rows.append(("kernel.io_uring_disabled", ioUringDisabled))
        for row in self.rows {
            switch row.availability {
            case .usable:
                let details = row.features.map { $0.details.map { "\($0.0)=\($0.1)" }.joined(separator: " ") } ?? (row.featureError ?? "")
                rows.append(("backend \(row.name)", "usable" + (details.isEmpty ? "" : ": " + details)))
            case .unusable(let reason):
                rows.append(("backend \(row.name)", "unusable: \(reason)"))
            }
        }
        rows.append(("io_uring ring", ringText))
        if !environment.isEmpty {
            rows.append(("environment", environment.map { "\($0.0)=\($0.1)" }.joined(separator: " ")))
        }
        return rows
    }

    /// The value of the first "key : value" line of a /proc file.
    private static func procField(_ path: String, _ key: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"),
                  line[..<colon].trimmingCharacters(in: .whitespaces) == key else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
