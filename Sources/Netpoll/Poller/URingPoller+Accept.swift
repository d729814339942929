import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

// Accepting through the ring (Feature.accept): one multishot IORING_OP_ACCEPT per
// listener, started when an accepter first waits, as a connection's RECV is. The
// kernel accepts every connection the backlog holds at each wakeup, each one a
// CQE carrying the new descriptor: no accept4(2) and no readiness event for the
// listener. The runtime queues the descriptors on the listener's PollDesc
// (``RingReceipt/accepted(fd:ended:)``) and its accept loop takes them from there
// (FD+AcceptConnect.swift).
//
// What ends a multishot ACCEPT — EMFILE/ENFILE from the kernel, CQ overflow, a
// cancel (the listener's close, or the runtime stopping it at the descriptor
// reserve line: EventLoop.deliverAccepted) — is handed up as
// ``RingReceipt/acceptEnded(_:)``; the next accepter that must wait starts another.
extension URingPoller {
    /// Queues the multishot ACCEPT of the listener at `file` (its descriptor or slot).
    func startAccepting(_ file: (fd: Int32, fixed: Bool), token: PollToken) throws(NetpollError) {
        while !cnp_ring_prep_accept_multishot(ring, file.fd, file.fixed, token.rawValue | Self.recvBit) {
            try submit()
        }
        counters.rearms &+= 1
        table.update(token.rawValue) { $0.recv = .running }
    }

    /// Handles an ACCEPT CQE (of a registered listener, or of one closed while its
    /// ACCEPT was in flight). Returns 1 when a receipt was delivered.
    func acceptCompleted(
        _ c: cnp_cqe, token: UInt64, ended: Bool, _ received: (PollToken, RingReceipt) -> Void
    ) -> Int {
        guard table.update(token, { (r: inout URingRegistration) -> Void in if ended { r.recv = .off } }) != nil else {
            // The listener was closed: a connection the kernel accepted meanwhile has
            // no one to go to.
            if c.res >= 0 { Glibc.close(c.res) }
            if ended { acceptsEnding.removeValue(forKey: c.user_data) }
            counters.staleEvents &+= 1
            return 0
        }
        if c.res >= 0 {
            received(PollToken(token), .accepted(fd: c.res, ended: ended))
            return 1
        }
        guard ended else { return 0 }
        // -ECANCELED: stopped by us; -EAGAIN should not end a multishot, but means
        // "nothing now" if it does. Anything else is what accept would report.
        let e = -c.res
        received(PollToken(token), .acceptEnded(e == ECANCELED || e == EAGAIN ? 0 : e))
        return 1
    }
}
