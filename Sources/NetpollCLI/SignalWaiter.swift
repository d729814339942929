import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Runs `action(signal)` on one serial Dispatch queue when one of `signals`
/// arrives (the signals are ignored for the default disposition so Dispatch can
/// see them), so actions never overlap. Immutable after init; the sources are
/// only kept alive here.
final class SignalWaiter: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    /// Blocks `signals` in the calling thread, and so in every thread it starts
    /// afterwards (a thread inherits its creator's mask): call it before creating
    /// the loops. Dispatch reads a signal source's signals from a signalfd; a
    /// thread that does not block them can take one first, and with the signal
    /// ignored the kernel then drops it — a SIGUSR1 lost now and then (seen as a
    /// test timing out under CI load), or a SIGTERM that stops nothing.
    static func block(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in signals { sigaddset(&set, sig) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    init(signals: [Int32], action: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "netpoll.signals")
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { action(sig) }
            s.resume()
            return s
        }
    }
}
