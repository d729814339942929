import ArgumentParser
import NetpollTools

/// `netpoll info`: what this machine offers the two backends, and what the
/// environment would select. Exits non-zero, with the error on stderr, when any
/// NETPOLL_* variable is invalid.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the kernel, io_uring availability, the selected backend and the poller features in use."
    )

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func run() async throws {
        // Pollers are created and closed inside this synchronous call, so each ring
        // lives on a single thread (SINGLE_ISSUER).
        let report = MachineReport.collect()
        if json {
            StandardStream.output.line(report.json.serialized())
        } else {
            StandardStream.output.line(report.table)
        }
        if let error = report.selectionError {
            StandardStream.error.line("netpoll info: \(error)")
            throw ExitCode(2)
        }
    }
}
