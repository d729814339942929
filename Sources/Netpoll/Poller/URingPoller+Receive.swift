import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// What a completion-mode RECV's CQE tells the runtime about one descriptor.
/// Receipts of a descriptor arrive in the order the kernel posted them: data, then
/// at most one ending.
public enum RingReceipt {
    /// `count` bytes in ring buffer `buffer` at `base`. The runtime owns the buffer
    /// until it hands it back with ``URingPoller/recycle(buffer:)``. With `ended`,
    /// this was the RECV's last completion (CQ overflow can end a multishot).
    case data(buffer: UInt16, base: UnsafeMutableRawPointer, count: Int, ended: Bool)
    /// The peer closed its side: the RECV has ended and a read finds end of stream.
    case endOfStream
    /// The RECV ended with this errno (ECONNRESET, ETIMEDOUT, …): what a read reports.
    case failed(Int32)
    /// The RECV ended without news (`-ENOBUFS`: the buffer ring ran dry; `-ECANCELED`:
    /// the descriptor reached its cap). Whatever is left is in the socket, for read(2).
    case stopped
    /// A listener's multishot ACCEPT took connection `fd` (non-blocking, close-on-exec,
    /// not yet registered): the runtime owns it. With `ended`, this was the ACCEPT's
    /// last completion.
    case accepted(fd: Int32, ended: Bool)
    /// A listener's multishot ACCEPT ended: 0 when stopped without news (a cancel,
    /// CQ overflow), else the errno an accept reports (EMFILE, ENFILE, …). Connections
    /// still queued in the listen backlog are for accept4(2) or the next ACCEPT.
    case acceptEnded(Int32)
}

/// What ``URingPoller/armReceive(token:)`` did.
public enum ReceiveArm {
    /// A RECV is in the kernel (started now or still running): wait for receipts.
    case receiving
    /// No buffer to spare: a one-shot POLLIN poll is armed instead; the reader
    /// reads the socket itself once it is readable.
    case polling
    /// Not a receiving registration (closed meanwhile): nothing armed.
    case none
}

// Completion mode: reads through a multishot RECV into the ring's provided buffers.
//
// The kernel picks a free buffer from the loop's buffer ring for each chunk it
// receives and posts a CQE naming it (`IORING_CQE_F_BUFFER`, the id in the high
// 16 bits of `flags`). The poller hands the chunk up as a ``RingReceipt`` and counts
// it against its descriptor until the runtime recycles it. Two limits keep one
// descriptor from starving the others:
//
// - a descriptor holding ``URingPoller/Options/receiveCap`` buffers has its RECV
//   cancelled; its reader drains the queue, then reads the socket itself with
//   read(2) and only restarts the RECV the next time it must wait;
// - a RECV that finds the ring empty ends with `-ENOBUFS` and is restarted the
//   same way, by its reader's next wait — or, while every buffer is out, the reader
//   waits on a one-shot POLLIN poll and reads the socket itself.
//
// So a RECV is only ever started on behalf of a waiting reader (``armReceive``),
// never behind the back of one that may be in read(2): the runtime relies on that
// to keep bytes in order (see RingReceiveQueue.swift).
//
// The buffer ledger. A ring buffer goes back into the ring only when nobody holds
// it: `bufferHolders[bid]` counts the kernel (from the buffer's adding until a
// completion in it comes without IORING_CQE_F_BUF_MORE: the kernel has finished
// it) and each chunk of it handed up and not yet recycled. Without incremental
// buffers every completion finishes its buffer, so a buffer is one chunk, as it
// always was. With them (``Feature/incrementalBuffers``) the kernel fills a buffer
// a completion at a time, for any connection, each completion's bytes after the
// last one's (`bufferFill`): several chunks — several connections' — share the
// buffer, and it returns to the ring after the last of them is recycled, never
// while a chunk in it may still be read. BufferLedger.pml (Runtime/) is a spin
// model of this ledger, checked by scripts/check-model.
extension URingPoller {
    /// Handles a RECV CQE. Returns 1 when a receipt was delivered.
    func receiveCompleted(
        _ c: cnp_cqe, token: UInt64, ended: Bool, _ received: (PollToken, RingReceipt) -> Void
    ) -> Int {
        let hasBuffer = c.flags & CNP_CQE_F_BUFFER != 0
        let bid = UInt16(truncatingIfNeeded: c.flags >> CNP_CQE_BUFFER_SHIFT)
        // Where this completion's bytes are, and whether the kernel is done with the buffer.
        var chunk: UnsafeMutableRawPointer?
        if hasBuffer, UInt32(bid) < options.receiveBuffers, let base = cnp_ring_buffer(ring, bid) {
            let fill = bufferFill[Int(bid)]
            if c.res > 0 {
                chunk = base + Int(fill)  // model: LEDGER_CHUNK
                bufferHolders[Int(bid)] += 1  // the chunk's hold, dropped below if nobody takes it
            }
            if c.flags & CNP_CQE_F_BUF_MORE != 0 {
                bufferFill[Int(bid)] = fill &+ UInt32(c.res)  // model: LEDGER_FILL_MORE
            } else {
                // Finished by the kernel: out of the ring until its last holder lets go.
                bufferFill[Int(bid)] = 0  // model: LEDGER_FINISHED
                buffersOut += 1
                counters.receiveBuffersHeld = UInt64(buffersOut)
                release(buffer: bid)
            }
        }
        // One look at the registration: is it current, and did this CQE end its RECV.
        guard table.update(token, { (r: inout URingRegistration) -> Void in if ended { r.recv = .off } }) != nil else {
            // Closed meanwhile: its data goes nowhere.
            if chunk != nil { release(buffer: bid) }
            counters.staleEvents &+= 1
            return 0
        }
        if let chunk {
            received(PollToken(token), .data(buffer: bid, base: chunk, count: Int(c.res), ended: ended))
            return 1
        }
        guard ended else { return 0 }
        let receipt: RingReceipt
        switch c.res {
        case 0: receipt = .endOfStream
        case -ENOBUFS:
            counters.receiveStarved &+= 1
            receipt = .stopped
        case -ECANCELED: receipt = .stopped
        case ..<0: receipt = .failed(-c.res)
        default: receipt = .stopped  // data without a buffer: not something the kernel does
        }
        received(PollToken(token), receipt)
        return 1
    }

    /// A reader of `token` found nothing queued and is about to wait: make sure
    /// something will wake it. Starts the descriptor's RECV unless one is in the
    /// kernel; with no ring buffer to spare, arms a one-shot POLLIN poll instead.
    public func armReceive(token: PollToken) throws(NetpollError) -> ReceiveArm {
        guard let reg = table[token.rawValue], reg.receiving else { return .none }
        if reg.recv != .off { return .receiving }  // model: RING_STILL_RUNNING
        let file = target(reg)
        if reg.accepting {
            try startAccepting(file, token: token)
            return .receiving
        }
        if buffersOut < Int(options.receiveBuffers) {
            // model: RING_START_RECV
            while !cnp_ring_prep_recv_multishot(ring, file.fd, file.fixed, token.rawValue | Self.recvBit) {
                try submit()
            }
            counters.rearms &+= 1
            table.update(token.rawValue) { $0.recv = .running }
            return .receiving
        }
        try arm(token: token, events: .read)  // model: RING_ARM_POLLIN
        return .polling
    }

    /// A chunk of ring buffer `bid` handed up is no longer needed: the buffer goes
    /// back to the kernel once nothing else holds it (the ledger, above). Owner
    /// thread only.
    public func recycle(buffer bid: UInt16) {
        guard !isClosed, UInt32(bid) < options.receiveBuffers else { return }
        release(buffer: bid)
    }

    /// Drops one hold on `bid`; the last one puts the buffer back in the ring, whole.
    @inline(__always)
    func release(buffer bid: UInt16) {
        let left = bufferHolders[Int(bid)] - 1  // model: LEDGER_RELEASE
        if left > 0 {
            bufferHolders[Int(bid)] = left
            return
        }
        // The kernel's own hold again, from the moment it is in the ring.
        bufferHolders[Int(bid)] = 1  // model: LEDGER_READD
        buffersOut -= 1
        counters.receiveBuffersHeld = UInt64(buffersOut)
        cnp_ring_recycle_buffer(ring, bid)
    }

    /// The reader of `token` holds its cap of ring buffers (the runtime counts them,
    /// ``Options/receiveCap``): cancel its RECV so the kernel stops filling buffers
    /// for it. Answers are ignored; the RECV's own final CQE (-ECANCELED) says when
    /// it is gone, and its reader restarts it when it next waits.
    public func stopReceiving(token: PollToken) {
        let stop = table.update(token.rawValue) { r -> Bool in
            guard r.recv == .running else { return false }
            r.recv = .cancelling  // model: RING_CAP_CANCEL
            return true
        } ?? false
        if stop {
            counters.receiveCapped &+= 1
            try? cancel(token.rawValue | Self.recvBit, tag: Self.cancelAsync)
        }
    }
}

extension URingPoller {
    /// Completion mode's part of the availability probe: a multishot RECV on a
    /// socketpair must deliver a byte written to the other end (Linux 6.0+; older
    /// kernels answer -EINVAL).
    func selfTestReceive() throws(NetpollError) {
        var sv: [Int32] = [-1, -1]
        try NetpollError.check("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv)
        }
        defer {
            Glibc.close(sv[0])
            Glibc.close(sv[1])
        }
        // A throwaway poller (the probe's): slot 0 is free.
        let token = PollToken(slot: 0, seq: 1)
        try register(fd: sv[0], token: token, receiving: true)
        defer { try? deregister(fd: sv[0], token: token) }
        guard try armReceive(token: token) == .receiving else {
            throw .backendUnavailable(backend: "uring", reason: "completion mode: no receive buffer available")
        }
        var byte: UInt8 = 42
        try NetpollError.check("write") { Glibc.write(sv[1], &byte, 1) }
        var got: RingReceipt?
        let deadline = cnp_nanotime() + 1_000_000_000
        while got == nil && cnp_nanotime() < deadline {
            _ = try poll(timeout: .milliseconds(100), { _, _ in }, received: { _, r in got = r })
        }
        switch got {
        case .data(let bid, _, let n, _)?:
            recycle(buffer: bid)
            if n != 1 { throw .backendUnavailable(backend: "uring", reason: "completion mode: RECV returned \(n) bytes for 1") }
        case .failed(let e)?:
            throw .backendUnavailable(
                backend: "uring",
                reason: e == EINVAL
                    ? "kernel lacks multishot RECV (IORING_RECV_MULTISHOT, Linux 6.0+): RECV returned EINVAL"
                    : "completion mode: RECV failed: \(String(cString: strerror(e)))")
        default:
            throw .backendUnavailable(backend: "uring", reason: "completion mode: a multishot RECV produced no data within 1 s")
        }
    }
}
