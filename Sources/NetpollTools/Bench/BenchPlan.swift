import Foundation

/// What `netpoll bench` runs: the servers, the scenarios and the cells, with the
/// profile's defaults applied (`standard()`, `--full`, `--quick`). Built once
/// from the command line.
public struct BenchPlan: Sendable {
    public enum Scenario: String, Sendable, CaseIterable {
        /// Closed-loop echo on long-lived connections.
        case echo
        /// Connect, one echo, close, again: accept and registration cost.
        case churn
        /// Many idle connections held while one echoes: server memory per connection.
        case idle
        /// Each request is answered with a file's first `size` bytes (`netpoll load
        /// --download` against `echo-server --file-size`), once by pread + write and
        /// once by sendfile: what zero-copy saves, per backend. Opt-in; our
        /// servers only (peers do not speak the download protocol).
        case file
    }

    /// How the file scenario's server sends: the two cells of one file size.
    public enum FileSend: String, Sendable, CaseIterable {
        case write
        case sendfile
    }

    /// One server to measure: our echo-server on a backend, or a peer command.
    public struct Server: Sendable {
        public let name: String
        /// Without the pinning prefix; `--host 127.0.0.1 --port 0` already appended.
        public let arguments: [String]
        public let isPeer: Bool
    }

    /// One row group of the final table.
    public struct Cell: Sendable, Hashable {
        public let scenario: Scenario
        public let connections: Int
        public let size: Int
        /// Idle scenario only.
        public let idleConnections: Int
        /// File scenario only.
        public var fileSend: FileSend? = nil

        /// "echo", or "file/sendfile".
        public var label: String { fileSend.map { "\(scenario.rawValue)/\($0.rawValue)" } ?? scenario.rawValue }

        /// The cell as progress lines and headlines name it: "echo 64 conns × 64 B",
        /// "idle 10,000 conns", "file/sendfile 64 conns × 64 KiB".
        public var title: String {
            switch scenario {
            case .idle: return "idle \(Figure.grouped(Double(idleConnections))) conns"
            case .echo, .churn, .file:
                return "\(label) \(connections) conn\(connections == 1 ? "" : "s") × \(Figure.bytes(size))"
            }
        }
    }

    public var servers: [Server] = []
    /// The file scenario is opt-in (`--scenarios echo,file`): it moves gigabytes.
    public var scenarios: [Scenario] = [.echo, .churn, .idle]
    public var connections: [Int] = [1, 64, 512]
    public var sizes: [Int] = [64, 4096]
    /// The churn cells' own connection counts and sizes; nil: the echo cells'.
    /// The standard profile asks churn one question (64 × 64 B), not four.
    public var churnConnections: [Int]? = nil
    public var churnSizes: [Int]? = nil
    /// File sizes of the file scenario (its own: echo's 64-byte messages say
    /// nothing about zero-copy).
    public var fileSizes: [Int] = [64 << 10, 1 << 20]
    public var durationSeconds: Double = 3
    public var warmupSeconds: Double = 1
    public var repeats = 3
    public var idleConnections = 10_000
    public var baseline = "epoll"

    /// The complete matrix (`--full`): 1, 64 and 512 connections × 64 B and 4 KiB
    /// for echo and churn, 3 rounds of 3 s after 1 s warmup.
    public init() {}

    /// The complete matrix, by name.
    public static func full() -> BenchPlan { BenchPlan() }

    /// The default of `netpoll bench` (`scripts/bench`, the README's first
    /// command): the mission's question on this machine in a few minutes. Echo at
    /// 64 and 512 connections × 64 B and 4 KiB, churn at 64 × 64 B, 10,000 idle
    /// connections; 5 short rounds rather than 3 long ones, because a verdict
    /// needs the rounds' ranges to part, and with 3 rounds two equal servers'
    /// ranges part by chance one time in 10 (one in 126 with 5).
    public static func standard() -> BenchPlan {
        var plan = BenchPlan()
        plan.connections = [64, 512]
        plan.churnConnections = [64]
        plan.churnSizes = [64]
        plan.durationSeconds = 1
        plan.warmupSeconds = 0.5
        plan.repeats = 5
        return plan
    }

    /// The `--quick` profile (CI smoke step): small, about half a minute.
    public static func quick() -> BenchPlan {
        var plan = BenchPlan()
        plan.connections = [1, 64]
        plan.sizes = [64]
        plan.durationSeconds = 1
        plan.warmupSeconds = 0.5
        plan.repeats = 1
        plan.idleConnections = 1000
        return plan
    }

    /// Our echo-server on each backend, then the peers, in the order given. A
    /// backend written `NAME+F+G` runs with `NETPOLL_URING_FEATURES=F,G` (the CLI
    /// has checked the names).
    public mutating func addServers(selfPath: String, backends: [String], loops: Int, peers: [String]) throws(BenchError) {
        let listen = ["--host", "127.0.0.1", "--port", "0"]
        for spec in backends {
            let parts = spec.split(separator: "+", maxSplits: 1).map(String.init)
            let env = parts.count > 1
                ? ["/usr/bin/env", "NETPOLL_URING_FEATURES=" + parts[1].replacingOccurrences(of: "+", with: ",")] : []
            servers.append(Server(
                name: spec,
                arguments: env + [selfPath, "echo-server", "--backend", parts[0], "--loops", String(loops)] + listen,
                isPeer: false))
        }
        for peer in peers {
            guard let equals = peer.firstIndex(of: "="), equals != peer.startIndex else {
                throw .badArgument("--peer must be NAME=COMMAND: \(peer)")
            }
            let name = String(peer[..<equals])
            let words: [String]
            do {
                words = try shellWords(String(peer[peer.index(after: equals)...]))
            } catch {
                throw .badArgument("--peer \(name): \(error.description)")
            }
            guard !words.isEmpty else { throw .badArgument("--peer \(name): empty command") }
            servers.append(Server(name: name, arguments: words + listen, isPeer: true))
        }
        var seen = Set<String>()
        for server in servers where !seen.insert(server.name).inserted {
            throw .badArgument("two servers are named \(server.name)")
        }
        if servers.isEmpty { throw .badArgument("nothing to measure: give --backends and/or --peer") }
    }

    /// The servers a cell runs: all, except peers in the file scenario.
    public func servers(for cell: Cell) -> [Server] {
        cell.scenario == .file ? servers.filter { !$0.isPeer } : servers
    }

    /// Cells in table order: by scenario, then connections, then size (then, for
    /// files, write before sendfile).
    public var cells: [Cell] {
        var cells: [Cell] = []
        for scenario in scenarios {
            switch scenario {
            case .echo:
                for connections in self.connections {
                    for size in sizes {
                        cells.append(Cell(scenario: scenario, connections: connections, size: size, idleConnections: 0))
                    }
                }
            case .churn:
                for connections in churnConnections ?? self.connections {
                    for size in churnSizes ?? sizes {
                        cells.append(Cell(scenario: scenario, connections: connections, size: size, idleConnections: 0))
                    }
                }
            case .idle:
                // One active connection keeps the loop honest while the rest sit idle.
                cells.append(Cell(scenario: .idle, connections: 1, size: sizes.first ?? 64, idleConnections: idleConnections))
            case .file:
                for connections in self.connections {
                    for size in fileSizes {
                        for send in FileSend.allCases {
                            cells.append(Cell(scenario: .file, connections: connections, size: size, idleConnections: 0, fileSend: send))
                        }
                    }
                }
            }
        }
        return cells
    }

    public func validate() throws(BenchError) {
        if connections.isEmpty || connections.contains(where: { $0 < 1 }) { throw .badArgument("--connections must be a list of counts ≥ 1") }
        if sizes.isEmpty || sizes.contains(where: { $0 < 1 }) { throw .badArgument("--sizes must be a list of byte counts ≥ 1") }
        if let churnConnections, churnConnections.isEmpty || churnConnections.contains(where: { $0 < 1 }) {
            throw .badArgument("churn connections must be a list of counts ≥ 1")
        }
        if let churnSizes, churnSizes.isEmpty || churnSizes.contains(where: { $0 < 1 }) {
            throw .badArgument("churn sizes must be a list of byte counts ≥ 1")
        }
        if !(durationSeconds > 0) { throw .badArgument("--duration must be > 0") }
        if !(warmupSeconds >= 0) { throw .badArgument("--warmup must be ≥ 0") }
        if repeats < 1 { throw .badArgument("--repeat must be ≥ 1") }
        if idleConnections < 1 { throw .badArgument("--idle-connections must be ≥ 1") }
        if scenarios.isEmpty { throw .badArgument("--scenarios must name at least one of echo, churn, idle, file") }
        if scenarios.contains(.file) {
            if fileSizes.isEmpty || fileSizes.contains(where: { $0 < 1 || $0 > 64 << 20 }) {
                throw .badArgument("--file-sizes must be a list of byte counts from 1 to \(64 << 20)")
            }
            if !servers.contains(where: { !$0.isPeer }) { throw .badArgument("the file scenario measures our echo-server: give --backends") }
        }
    }
}

public enum BenchError: Error, CustomStringConvertible {
    case badArgument(String)
    case io(String)

    public var description: String {
        switch self {
        case .badArgument(let text), .io(let text): text
        }
    }
}

/// "1,64,512" → [1, 64, 512].
public func parseIntList(_ text: String, flag: String) throws(BenchError) -> [Int] {
    var values: [Int] = []
    for part in text.split(separator: ",") {
        guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw .badArgument("\(flag) takes comma-separated numbers: \(text)")
        }
        values.append(value)
    }
    return values
}

/// "echo,churn" → scenarios, rejecting unknown names with the valid ones listed.
public func parseScenarios(_ text: String) throws(BenchError) -> [BenchPlan.Scenario] {
    var scenarios: [BenchPlan.Scenario] = []
    for part in text.split(separator: ",") {
        guard let scenario = BenchPlan.Scenario(rawValue: part.trimmingCharacters(in: .whitespaces)) else {
            let valid = BenchPlan.Scenario.allCases.map(\.rawValue).joined(separator: ", ")
            throw .badArgument("unknown scenario \(part); valid: \(valid)")
        }
        if !scenarios.contains(scenario) { scenarios.append(scenario) }
    }
    return scenarios
}
