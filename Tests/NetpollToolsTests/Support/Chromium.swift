import Foundation
import Testing

/// Headless Chromium (Debian package `chromium`) for the tests that check the
/// report as a browser draws it. Absent on most CI machines: tests skip then.
enum Chromium {
    /// `NETPOLL_CHROMIUM`, else the first of the usual names on PATH.
    static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["NETPOLL_CHROMIUM"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }()

    static let skipReason: Comment = "headless Chromium not found (apt-get install chromium, or set NETPOLL_CHROMIUM)"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs Chromium headless on `arguments` plus a private profile; returns its
    /// stdout. A browser that hangs is killed after `timeout` seconds.
    static func run(_ arguments: [String], in directory: URL, timeout: Double = 90) throws -> String {
        guard let path else { throw Failure(description: "chromium not found") }
        let profile = directory.appendingPathComponent("profile-\(UUID().uuidString)")
        let stdoutFile = directory.appendingPathComponent("stdout-\(UUID().uuidString)")
        let stderrFile = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        // --no-sandbox: the tests may run as root, where Chromium refuses its sandbox.
        process.arguments = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
                             "--disable-extensions", "--hide-scrollbars", "--user-data-dir=\(profile.path)"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw Failure(description: "chromium did not finish within \(Int(timeout)) s")
        }
        let output = (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? ""
        if process.terminationStatus != 0 {
            let errors = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw Failure(description: "chromium exited \(process.terminationStatus): \(errors.suffix(2000))")
        }
        return output
    }
}
