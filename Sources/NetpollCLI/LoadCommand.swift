import ArgumentParser
import NetpollTools

/// `netpoll load`: the echo load client the bench runs against each server.
/// Independent of the Netpoll library by design (see NetpollTools).
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Echo load client: closed or open loop, verified bytes, HdrHistogram latencies.",
        discussion: """
            Each connection sends a SIZE-byte message, waits for the whole echo, checks every \
            byte, records the latency, and repeats. With --rate the load is open loop at that \
            total rate and latencies are measured from the intended send time. Exits non-zero \
            only for bad arguments or when no connection could be made.
            """
    )

    @Option(help: "Server address: HOST:PORT, [IPv6]:PORT or unix:/path.", transform: OptionRules.target)
    var target: String

    @Option(parsing: .unconditional,
            help: "Concurrent connections, \(LoadOptions.connectionsRule.range) (0 only with --idle; in --churn mode: concurrent connect/echo/close loops). Default 1.",
            transform: OptionRules.count(LoadOptions.connectionsRule))
    var connections: Int = 1

    @Option(parsing: .unconditional, help: "Message size in bytes, \(LoadOptions.sizeRule.range). Default 64.", transform: OptionRules.count(LoadOptions.sizeRule))
    var size: Int = 64

    @Option(parsing: .unconditional, help: "Measured seconds. Default 5.", transform: OptionRules.number(LoadOptions.durationRule))
    var duration: Double = 5

    @Option(parsing: .unconditional, help: "Seconds of traffic before measuring (not recorded). Default 1.", transform: OptionRules.number(LoadOptions.warmupRule))
    var warmup: Double = 1

    @Option(parsing: .unconditional, help: "Open loop: total messages per second across all connections.", transform: OptionRules.number(LoadOptions.rateRule))
    var rate: Double?

    @Option(parsing: .unconditional, help: "Client threads, \(LoadOptions.threadsRule.range), each with its own epoll loop; connections are spread over them. Default 1.",
            transform: OptionRules.count(LoadOptions.threadsRule))
    var threads: Int = 1

    @Flag(help: "Connection churn: connect, echo once, close, repeat; reports connections/s.")
    var churn = false

    @Flag(help: "Download instead of echo: each message is an 8-byte request for --size bytes, which the server sends (`netpoll echo-server --file-size`) and the client checks byte for byte.")
    var download = false

    @Option(parsing: .unconditional, help: "Also hold this many idle connections open for the run (idle-scale scenario), \(LoadOptions.idleRule.range). Default 0.",
            transform: OptionRules.count(LoadOptions.idleRule))
    var idle: Int = 0

    @Option(parsing: .unconditional, help: "Seconds to wait for a connection to be established. Default 5.", transform: OptionRules.number(LoadOptions.connectTimeoutRule))
    var connectTimeout: Double = 5

    @Flag(help: "Print exactly one JSON object on stdout.")
    var json = false

    func run() throws {
        var options = LoadOptions(target: target, connections: connections, size: size, durationSeconds: duration)
        options.warmupSeconds = warmup
        options.rate = rate
        options.threads = threads
        options.mode = churn ? .churn : .echo
        options.download = download
        options.idleConnections = idle
        options.connectTimeoutSeconds = connectTimeout
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        let report: LoadReport
        do {
            report = try LoadGenerator.run(options, onIdleReady: { open in
                // The bench waits for this exact line before sampling server memory.
                StandardStream.error.line("idle-ready \(open)")
            })
        } catch .badArgument(let text) {
            throw ValidationError(text)
        } catch .invalidOption(let name, let value, let allowed) {
            throw ValidationError(LoadError.invalidOption(name: name, value: value, allowed: allowed).description)
        } catch {
            StandardStream.error.line("netpoll load: \(error.description)")
            throw ExitCode(2)
        }
        StandardStream.output.line(json ? report.json().serialized() : report.humanText())
    }
}
