#if canImport(Glibc)
import Glibc
#endif

/// The accept side of a listener the ring accepts on (``URingPoller/Feature/accept``):
/// the connections its multishot ACCEPT took, queued on the PollDesc's ``ringQueue``
/// (``RingReceiveQueue/Item/accepted(_:)``) by the loop thread and taken by the
/// accepter (one at a time: the FDMutex read lock).
///
/// `ringState` means for a listener what it means for a connection: `off` —
/// no ACCEPT in the kernel, the accepter may call accept4(2); `requested` — the
/// accepter asked the loop to start one and waits; `running` — the ACCEPT is in
/// the kernel. Unlike bytes, connections need no order between the two paths; the
/// state is there so that a listener with a running ACCEPT makes no system call,
/// and so that an accepter never waits with nothing armed to wake it.
extension PollDesc {
    /// What ``takeAccepted()`` found.
    enum AcceptTake {
        case accepted(Int32)
        /// The ACCEPT ended with this errno (EMFILE, ENFILE, …): what one accept reports.
        case failed(Int32)
        case empty
    }

    /// A listener's receipt, on the loop thread: the accepted descriptor (already
    /// admitted below the reserve line) or the ACCEPT's end, then a wakeup for the
    /// accepter, as a read receipt wakes a reader.
    func ringAccepted(_ receipt: RingReceipt) {
        switch receipt {
        case .accepted(let fd, let ended):
            ringQueue.locked { $0.push(.accepted(fd)) }
            if ended { ringState.store(Self.ringOff, ordering: .releasing) }
        case .acceptEnded(let e):
            if e != 0 { ringQueue.locked { $0.push(.end(e)) } }
            ringState.store(Self.ringOff, ordering: .releasing)
        case .data, .endOfStream, .failed, .stopped:
            return  // a connection's; not sent for a listener
        }
        ready(.read)
    }

    /// The next queued connection or accept error, if any.
    func takeAccepted() -> AcceptTake {
        switch ringQueue.locked({ $0.takeAccepted() }) {
        case .accepted(let fd)?: return .accepted(fd)
        case .end(let e)?: return .failed(e)
        default: return .empty
        }
    }
}
