import ArgumentParser
import Netpoll
import NetpollTools
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `netpoll echo-server`: the server `netpoll bench` measures. Echoes every byte
/// on every connection until SIGINT/SIGTERM, then prints its loops' statistics as
/// one JSON line on stdout and exits 0. SIGUSR1 prints the same line and goes on.
struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "Run a TCP (or, with --udp, UDP) echo server on the netpoll runtime.",
        discussion: """
            The first line on stdout is exactly `listening on HOST:PORT`. On SIGINT or
            SIGTERM the server prints one JSON line of runtime statistics and exits 0;
            on SIGUSR1 it prints the same line (with "final":false) and keeps serving.
            With --udp every datagram is sent back to its sender, from one socket per
            event loop sharing the port (SO_REUSEPORT); a datagram larger than 65536
            bytes cannot arrive (UDP's limit), so none is ever echoed cut.
            """
    )

    @Option(help: "Backend: \(Backend.Choice.allCases.map(\.rawValue).joined(separator: ", ")) (overrides NETPOLL_BACKEND).",
            transform: OptionRules.backend)
    var backend: Backend.Choice?

    @Option(help: "Address to listen on (0.0.0.0 or :: for every interface). Default 127.0.0.1.", transform: OptionRules.host)
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port, 0...65535 (0, the default: any free port).", transform: OptionRules.wholeNumber(OptionRules.port))
    var port = 0

    @Option(parsing: .unconditional, help: "Event loops, 1...\(Settings.maxLoops) (default: NETPOLL_LOOPS, else the CPU count).",
            transform: OptionRules.loops)
    var loops: Int?

    @Option(parsing: .unconditional, help: "Largest read in bytes, 1...\(OptionRules.maxBufferSize). Reads borrow one of the loop's 64 KiB buffers, so at most 65536 are read at once unless --own-buffer is given. Default 65536.",
            transform: OptionRules.wholeNumber(OptionRules.bufferSize))
    var bufferSize = 65536

    @Flag(help: "Echo UDP datagrams instead of TCP streams.")
    var udp = false

    @Option(parsing: .unconditional, help: "Serve a file of this many bytes (1...\(FileServer.maxSize)) instead of echoing: each 8-byte request (`netpoll load --download`) is answered with that many bytes of it. The bench's \"file\" scenario.",
            transform: OptionRules.wholeNumber(FileServer.sizeRange))
    var fileSize: Int?

    @Option(help: "How --file-size answers are sent: sendfile (zero-copy, the default) or write (pread into a buffer, then write).",
            transform: FileServer.parseMethod)
    var fileSend: FileServer.Method = .sendfile

    @Flag(help: "Give every connection a buffer of its own (--buffer-size bytes, held while it waits) instead of borrowing the loop's: the way before borrowed reads, kept for comparison.")
    var ownBuffer = false

    @Flag(help: "Echo through the Unsafe* borrowed read (readBorrowed, an UnsafeRawBufferPointer) instead of the span API (readSpan, a RawSpan): the same server otherwise, kept to measure one against the other.")
    var unsafeAPI = false

    @Option(parsing: .unconditional, help: "Close a connection after this many seconds without a byte read (0, the default: never).",
            transform: OptionRules.number(OptionRules.timeout))
    var idleTimeout = 0.0

    @Option(parsing: .unconditional, help: "Close a connection whose write cannot finish in this many seconds (0, the default: never).",
            transform: OptionRules.number(OptionRules.timeout))
    var writeTimeout = 0.0

    func validate() throws {
        if udp && fileSize != nil { throw ValidationError("--file-size serves files over TCP; it cannot be combined with --udp") }
    }

    func run() async throws {
        // Go raises the soft descriptor limit to the hard one at start-up; a server
        // binary owns that policy (the library only offers the call).
        do { try DescriptorLimit.raiseToHardLimit() } catch {
            StandardStream.error.line("netpoll: could not raise the descriptor limit: \(error)")
        }
        // Before the loops start, so that they inherit the mask (see SignalWaiter.block).
        SignalWaiter.block([SIGINT, SIGTERM, SIGUSR1])
        let chosen = try CLIBackend.resolve(flag: backend)
        let group = try LoopGroup(loops: loops, backend: chosen)
        if udp {
            try await runUDP(group: group)
            return
        }
        let listener = try await TCPListener.listen(host: host, port: port, group: group)
        let address = listener.address.map { "\($0)" } ?? "\(host):\(port)"
        let files = try fileSize.map { try FileServer(size: $0, method: fileSend) }

        // Installed before the `listening` line, so a parent that signals right after
        // reading it still gets the statistics. One serial queue handles all three,
        // so a SIGUSR1 line and the exit line never overlap.
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM, SIGUSR1]) { sig in
            let final = sig != SIGUSR1
            StandardStream.output.line(Self.statisticsLine(group: group, final: final).serialized())
            if final { Glibc.exit(0) }
        }
        StandardStream.output.line("listening on \(address)")
        let size = bufferSize
        // Go's http.Server IdleTimeout / WriteTimeout, with the deadline API: a
        // deadline that passes ends the handler, and serve closes the connection.
        let idle: Duration? = idleTimeout > 0 ? .seconds(idleTimeout) : nil
        let writeLimit: Duration? = writeTimeout > 0 ? .seconds(writeTimeout) : nil
        if let files {
            try await listener.serve { try await files.serve($0) }
        } else if ownBuffer {
            try await listener.serve { try await Self.echoWithOwnBuffer($0, size: size, idle: idle, writeLimit: writeLimit) }
        } else if unsafeAPI {
            try await listener.serveOnInput(idleTimeout: idle) { conn in
                let open = try await conn.readBorrowed(upTo: size) { bytes in
                    if bytes.isEmpty { return false }
                    if let writeLimit { try conn.setWriteDeadline(after: writeLimit) }
                    try await conn.write(bytes)
                    return true
                }
                return open ? .keepOpen : .close
            }
        } else {
            // Runs on input only: an idle connection holds no task and no buffer
            // (a few hundred bytes: descriptor, PollDesc, connection object).
            try await listener.serveOnInput(idleTimeout: idle) { conn in
                let open = try await conn.readSpan(upTo: size) { bytes in
                    if bytes.isEmpty { return false }
                    if let writeLimit { try conn.setWriteDeadline(after: writeLimit) }
                    try await conn.write(bytes)
                    return true
                }
                return open ? .keepOpen : .close
            }
        }
        // The signal sources must outlive the server: a released DispatchSource stops
        // delivering, and SIGTERM would then kill the process without its statistics.
        withExtendedLifetime(signals) {}
    }
}

extension EchoServerCommand {
    /// The line printed on SIGINT/SIGTERM (`final` true) and SIGUSR1 (false), one
    /// JSON object that `netpoll bench` and the tests parse: what ran, then the
    /// loops' counters summed (`LoopStats.namedCounters`, in their order, among them
    /// `connections_accepted`); with --udp, the datagrams echoed.
    static func statisticsLine(group: LoopGroup, final: Bool, datagrams: UInt64? = nil) -> JSONValue {
        var run: [(String, JSONValue)] = [
            ("final", .bool(final)),
            ("backend", .string(group.backend.kind.rawValue)),
            ("backend_detail", .string("\(group.backend)")),
            ("loops", .int(group.loops.count)),
        ]
        if let datagrams { run.append(("datagrams_echoed", .int(Int(clamping: datagrams)))) }
        return .object(run + group.statistics.namedCounters.map { ($0.name, .int(Int(clamping: $0.value))) })
    }

    static func echoWithOwnBuffer(_ conn: TCPConn, size: Int, idle: Duration?, writeLimit: Duration?) async throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        while true {
            if let idle { try conn.setReadDeadline(after: idle) }
            let n = try await conn.read(into: buf)
            if n == 0 { return }
            if let writeLimit { try conn.setWriteDeadline(after: writeLimit) }
            try await conn.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }
}

extension EchoServerCommand {
    /// `--udp`: one socket per loop on the same port (SO_REUSEPORT spreads senders
    /// over them by address), each echoing on its own loop.
    func runUDP(group: LoopGroup) async throws {
        let first = try await UDPConn.listen(host: host, port: port, reusePort: true, group: group)
        guard let bound = first.localAddress else { throw NetpollError.invalidAddress("UDP socket has no local address") }
        var sockets = [first]
        for _ in 1..<group.loops.count {
            sockets.append(try await UDPConn.listen(on: bound, reusePort: true, group: group))
        }
        let echoed = DatagramCount()
        let stop = SignalWaiter(signals: [SIGINT, SIGTERM, SIGUSR1]) { sig in
            let final = sig != SIGUSR1
            let line = Self.statisticsLine(group: group, final: final, datagrams: echoed.value.load(ordering: .relaxed))
            StandardStream.output.line(line.serialized())
            if final { Glibc.exit(0) }
        }
        StandardStream.output.line("listening on \(bound)")
        try await withThrowingDiscardingTaskGroup { tasks in
            for socket in sockets {
                // Isolated to the socket's loop, as serve's connection tasks are.
                tasks.addImmediateTask { [isolation = socket.loop.isolation] in
                    try await runIsolated(to: isolation) {
                        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
                        defer { buf.deallocate() }
                        while true {
                            let d = try await socket.readFrom(into: buf)
                            // A sender that went away (ICMP unreachable) must not stop the server.
                            do {
                                try await socket.writeTo(
                                    UnsafeRawBufferPointer(rebasing: buf[0..<d.count]), address: d.sender)
                                echoed.value.wrappingAdd(1, ordering: .relaxed)
                            } catch let e as NetpollError where e.errno != nil {
                                continue
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(stop) {}
    }
}

/// Datagrams echoed, shared by the per-loop echo tasks and the signal handler.
final class DatagramCount: Sendable {
    let value = Atomic<UInt64>(0)
}
