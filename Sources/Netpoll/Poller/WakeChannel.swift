import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How another thread ends a blocked poll (Go: netpollBreak + netpollWakeSig): an
/// eventfd the poller watches, written at most once until the poll that sees it
/// consumes it. Both backends use it; only how they watch the eventfd differs.
final class WakeChannel: Sendable {
    /// The eventfd (non-blocking, close-on-exec). Immutable until `close`.
    let fd: Int32
    /// A write is in flight and not yet consumed: later wakes need not write.
    private let pending = Atomic<Bool>(false)

    init() throws(NetpollError) {
        let efd = cnp_eventfd()
        fd = try NetpollError.checkNegated("eventfd", efd)
    }

    /// Any thread; coalesced.
    func wake() {
        guard pending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        _ = cnp_eventfd_signal(fd)
    }

    /// The owner saw the eventfd readable. Resets the counter before clearing the flag,
    /// so a wake() after the clear writes again and is not lost.
    func consume() {
        _ = cnp_eventfd_drain(fd)
        pending.store(false, ordering: .releasing)
    }

    /// A wake was sent and not yet consumed.
    var isPending: Bool { pending.load(ordering: .acquiring) }

    func close() { Glibc.close(fd) }
}
