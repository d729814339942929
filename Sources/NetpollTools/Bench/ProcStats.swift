import Foundation
import Glibc

/// What the bench reads about a running server from /proc.
enum ProcStats {
    /// CPU time of the process, in µs: the sum of its threads' run time from
    /// /proc/PID/task/*/schedstat (nanoseconds, the scheduler's own clock), else
    /// utime + stime from /proc/PID/stat (clock ticks: 10 ms at the usual 100 Hz,
    /// too coarse for the CPU cost of a message in a short run). schedstat counts
    /// live threads only; a server's loop threads live for the whole run, and the
    /// bench reads this just before it stops the server.
    static func cpuMicros(pid: pid_t) -> Double? {
        schedstatMicros(pid: pid) ?? statMicros(pid: pid)
    }

    static func schedstatMicros(pid: pid_t) -> Double? {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !threads.isEmpty
        else { return nil }
        var total: Double = 0
        for tid in threads {
            // "run-ns wait-ns timeslices"; a thread that just exited is skipped.
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/schedstat", encoding: .utf8),
                  let first = text.split(separator: " ").first, let ns = Double(first) else { continue }
            total += ns
        }
        return total / 1000
    }

    static func statMicros(pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may contain spaces) start at field 3 (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) * 1e6 / (ticks > 0 ? ticks : 100)
    }

    /// Resident set size in bytes (VmRSS of /proc/PID/status).
    static func residentBytes(pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Double(parts[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    /// CPUs this process may run on (Cpus_allowed_list, e.g. "0-1,4").
    static func allowedCPUs() -> [Int] {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            var cpus: [Int] = []
            let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
            for range in list.split(separator: ",") {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 1 { cpus.append(bounds[0]) }
                if bounds.count == 2, bounds[0] <= bounds[1] { cpus += Array(bounds[0]...bounds[1]) }
            }
            return cpus
        }
        return []
    }

    /// This executable, to run `load` and our echo-servers as children.
    static func selfExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Full path of `name` on PATH, or nil.
    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// Path of the running executable (via /proc/self/exe), for spawning our own subcommands.
public func currentExecutablePath() -> String {
    ProcStats.selfExecutable()
}
