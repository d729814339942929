import Netpoll
import NetpollTools

/// Backend selection for commands with a `--backend` flag: the flag wins over
/// NETPOLL_BACKEND; the io_uring tuning variables still apply.
enum CLIBackend {
    static func resolve(flag: Backend.Choice?) throws -> Backend {
        guard let flag else { return try Backend.fromEnvironment() }
        var env = Backend.processEnvironment
        env["NETPOLL_BACKEND"] = flag.rawValue
        let (backend, note) = try Backend.resolve(environment: env)
        if let note { StandardStream.error.line("netpoll: \(note)") }
        return backend
    }
}
