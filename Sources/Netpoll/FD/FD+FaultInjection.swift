#if FaultInjection
#if canImport(Glibc)
import Glibc
#endif

// The FD loops' fault-injection hooks (trait FaultInjection, NETPOLL_FAULTS; see
// Support/FaultInjection.swift). Every lie told here is one the kernel may tell:
//
// - EINTR: the call did not run; the loop runs it again.
// - EAGAIN: the call did not run, so bytes (or room, or a connection) may well be
//   there, and since the poller is edge-triggered no new event would come for
//   them: a wait after a lie would be one no real EAGAIN can cause. So the lie
//   latches the direction's `ready` first, as an event that came between the
//   EAGAIN and the wait would: the wait returns at once and the loop retries. That
//   is a spurious wakeup, which the FD loops must take (they always retry the call).
// - A short count: the call runs with fewer bytes to move than asked — real data,
//   fewer bytes, as with a signal or a full socket buffer. Only on streams (a
//   shorter datagram read or send would truncate the datagram), never on a pipe
//   write of at most PIPE_BUF bytes (POSIX makes it all-or-nothing, and callers may
//   rely on that: a timed-out one wrote nothing), and the read's
//   drained-queue hint (FD.receiveQueueDrained) is judged against the count the
//   call was given: a read that filled what it was given proves nothing about the
//   queue, and judging it against the caller's count would wait for an arrival
//   that already came.
// - A connect's wait woken early: SO_ERROR still says nothing, and the ready latched
//   again lets the loop look once more (a spurious wakeup, as above).
extension FD {
    /// The errno the call at `site` answers instead of running, or nil: run it. A
    /// fake EAGAIN first latches `mode`'s `ready` (see above).
    @inline(__always)
    func injectedErrno(_ site: FaultInjection.Site, _ mode: PollDesc.Mode) -> Int32? {
        guard let e = FaultInjection.inject(site) else { return nil }
        if e == EAGAIN { pd.ready(mode == .read ? .read : .write) }
        return e
    }

    /// Which site a call of the retry loop is.
    @inline(__always)
    static func faultSite(_ mode: PollDesc.Mode, _ name: String) -> FaultInjection.Site {
        if mode == .write { return .write }
        return name == "accept4" ? .accept : .read
    }

    /// How many of `count` bytes this descriptor's next read or write may move:
    /// `count`, or fewer on a stream.
    @inline(__always)
    func injectedCount(_ count: Int, _ site: FaultInjection.Site) -> Int {
        guard isStream || !isSocket else { return count }
        if !isSocket && site == .write && count <= FD.pipeBuf { return count }
        return FaultInjection.shortCount(count, at: site)
    }

    /// Linux's PIPE_BUF (not exported to Swift).
    static let pipeBuf = 4096

    /// A connect's wait woke with nothing to report (see above): latches `ready`
    /// so the loop's next wait returns at once.
    @inline(__always)
    func injectedEarlyConnectWake() -> Bool {
        guard FaultInjection.inject(.connect) != nil else { return false }
        pd.ready(.write)
        return true
    }
}
#endif
