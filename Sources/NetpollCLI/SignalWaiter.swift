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
