#if FaultInjection
import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

// The ring's fault-injection hooks (trait FaultInjection, NETPOLL_FAULTS; see
// Support/FaultInjection.swift). The kernel ends a multishot request early — on CQ
// overflow, on a cancel, on a dry buffer ring — and cancels one-shot polls; what it
// then posts is what these hooks make it post, for real where it can be real:
//
// - A multishot POLL_ADD that goes on (F_MORE) is cancelled in the kernel: its
//   last CQE is -ECANCELED, which `dispatch` re-arms. Merely dropping F_MORE from
//   the CQE would leave the kernel's poll armed beside the re-armed one, and a poll
//   holds its file: the peer would never see FIN after close.
// - A multishot RECV (or a listener's ACCEPT) that goes on is cancelled the same way (as the receive cap
//   does, `stopReceiving`); its last CQE reports -ECANCELED or, as drawn, -ENOBUFS,
//   which the runtime takes alike (the RECV stopped; the socket keeps the rest).
// - A one-shot poll that fired reports -ECANCELED instead of its mask: its waiter is
//   woken and retries its system call, which finds what the mask would have said.
// - CQ overflow is real: rings are set up small (FaultInjection.ringEntries, in
//   init), so the SQ fills and the CQ overflows whenever a few events come at once.
extension URingPoller {
    /// The CQE `dispatch` interprets instead of `c` (the same, or an injected
    /// ending), after queueing any cancel the fault needs.
    func injectingFault(_ c: cnp_cqe) -> cnp_cqe {
        guard FaultInjection.config != nil, c.user_data >> 32 != 0xFFFF_FFFF else { return c }  // wake, cancels
        let op = c.user_data & Self.opMask
        let token = c.user_data & ~Self.opMask
        let more = c.flags & CNP_CQE_F_MORE != 0
        var c = c
        switch op {
        case Self.recvBit:
            if !more {
                // The RECV's last CQE: an ending caused here reports the errno drawn.
                if let e = injectedEnds.removeValue(forKey: token), c.res == -ECANCELED { c.res = -e }
                return c
            }
            guard let reg = table[token], reg.recv == .running, let e = FaultInjection.inject(.recvCQE) else { return c }
            table.update(token) { $0.recv = .cancelling }
            // A listener's ACCEPT (same op bits) ends as a cancel: ENOBUFS would be
            // an accept error, which the kernel does not answer for a stopped ACCEPT.
            injectedEnds[token] = reg.accepting ? ECANCELED : e
            try? cancel(c.user_data, tag: Self.cancelAsync)
        case 0, Self.writeBit:
            guard let reg = table[token] else { return c }
            if more {
                // Only readiness registrations' polls are multishot (the wake poll's
                // user_data is reserved, above).
                guard FaultInjection.inject(.pollCQE) != nil else { return c }
                try? cancel(c.user_data, tag: Self.cancelAsync)
            } else if (oneshot || reg.receiving) && c.res >= 0 && FaultInjection.inject(.pollCQE) != nil {
                c.res = -ECANCELED
            }
        default:
            break  // a CLOSE's answer
        }
        return c
    }
}
#endif
