import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What io_uring completion mode received for one descriptor and its reader has
/// not taken yet: ring buffers (or the rest of one) in arrival order, then at most
/// one end (end of stream or an error).
///
/// Filled by the loop thread from ``RingReceipt``s, emptied by the descriptor's
/// reader (one at a time: the FDMutex read lock) on any thread, under
/// ``PollDesc/ringQueue``'s lock. One item inline, more in an array with a moving
/// head: once grown it is reused for the descriptor's whole life and the slot's
/// later ones (PollDescs are type-stable), so a steady state allocates nothing.
struct RingReceiveQueue {
    enum Item: Sendable {
        /// `count` bytes at `base + offset` in ring buffer `buffer`. The address is
        /// kept as an integer: the memory belongs to the ring, and the queue (which
        /// crosses threads under its lock) only names it.
        case bytes(buffer: UInt16, base: UInt, offset: Int, count: Int)
        /// Bytes copied out of a ring buffer into memory of the queue's own (freed
        /// when taken): what arrived beyond the descriptor's cap.
        case copied(base: UInt, offset: Int, count: Int)
        /// End of stream (0) or the errno a read reports; on a listener, the errno
        /// an accept reports.
        case end(Int32)
        /// A listener's: a connection the ring accepted (its descriptor, owned here
        /// until taken; closed if the listener closes first).
        case accepted(Int32)
    }

    /// The head item while it is the only one: the steady state of an echo (one
    /// chunk queued at a time) then touches no array storage — one cache line less
    /// per message with many connections. Items behind it go to `items`.
    private var single: Item?
    private var items: [Item] = []
    private var head = 0
    /// `.bytes` items queued: ring buffers this descriptor holds.
    private(set) var ringItems = 0

    var isEmpty: Bool { single == nil && head == items.count }

    /// The item at the front, if any.
    private var front: Item? {
        if let single { return single }
        return head < items.count ? items[head] : nil
    }

    private mutating func replaceFront(_ item: Item) {
        if single != nil { single = item } else { items[head] = item }
    }

    mutating func push(_ item: Item) {
        if case .bytes = item { ringItems += 1 }
        if isEmpty {
            single = item
        } else if let s = single {
            // Keep order: the single item moves to the array ahead of this one.
            single = nil
            items.append(s)
            items.append(item)
        } else {
            items.append(item)
        }
    }

    private mutating func pop() {
        if case .bytes? = front { ringItems -= 1 }
        if single != nil {
            single = nil
            return
        }
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// One step of a copying read: copies from the head item into `dst` (at most
    /// `count` bytes). Returns the bytes copied, the buffer to recycle if the head
    /// item was used up, and the end if the head item was one — unless `keepEnd`
    /// (bytes were already copied in this read: the end is for the next one).
    mutating func take(
        into dst: UnsafeMutableRawPointer, count: Int, keepEnd: Bool
    ) -> (copied: Int, used: UInt16?, end: Int32?) {
        guard let item = front else { return (0, nil, nil) }
        switch item {
        case .accepted:
            return (0, nil, nil)  // a listener's queue: nothing to read
        case .end(let e):
            if keepEnd { return (0, nil, nil) }
            pop()
            return (0, nil, e)
        case .bytes(let bid, let base, let offset, let have):
            let n = min(have, count)
            dst.copyMemory(from: UnsafeRawPointer(bitPattern: base + UInt(offset))!, byteCount: n)
            if n == have {
                pop()
                return (n, bid, nil)
            }
            replaceFront(.bytes(buffer: bid, base: base, offset: offset + n, count: have - n))
            return (n, nil, nil)
        case .copied(let base, let offset, let have):
            let n = min(have, count)
            dst.copyMemory(from: UnsafeRawPointer(bitPattern: base + UInt(offset))!, byteCount: n)
            if n == have {
                UnsafeMutableRawPointer(bitPattern: base)?.deallocate()
                pop()
            } else {
                replaceFront(.copied(base: base, offset: offset + n, count: have - n))
            }
            return (n, nil, nil)
        }
    }

    /// A listener's head item: an accepted descriptor or an accept's error, popped.
    mutating func takeAccepted() -> Item? {
        guard let item = front else { return nil }
        switch item {
        case .accepted, .end:
            pop()
            return item
        case .bytes, .copied:
            return nil
        }
    }

    /// The head item's bytes, if they are at most `max`: handed out whole (the
    /// caller recycles the buffer), so a borrowed read copies nothing.
    mutating func takeWhole(max: Int) -> (buffer: UInt16, address: UInt, count: Int)? {
        guard case .bytes(let bid, let base, let offset, let have)? = front, have <= max else { return nil }
        pop()
        return (bid, base + UInt(offset), have)
    }

    /// Empties the queue (close): the buffers to recycle.
    mutating func removeAll(_ recycle: (UInt16) -> Void) {
        while let item = front {
            switch item {
            case .bytes(let bid, _, _, _): recycle(bid)
            case .copied(let base, _, _): UnsafeMutableRawPointer(bitPattern: base)?.deallocate()
            case .accepted(let fd): close(fd)
            case .end: break
            }
            pop()
        }
        items.removeAll(keepingCapacity: true)
        head = 0
        ringItems = 0
    }
}

/// The receive side of a completion-mode descriptor (``PollDesc/receivesThroughRing``).
///
/// ## Why bytes stay in order
///
/// Two paths can read a socket: the ring's RECV (into ``ringQueue``) and the
/// reader's own read(2). They must never run at once, or bytes the RECV took
/// first could be returned after bytes read(2) took later. ``ringState`` says which
/// path owns the socket:
///
/// | state | who reads the socket | set by |
/// |---|---|---|
/// | `off` | the reader, with read(2); no RECV is in the kernel | the loop, after a RECV's last CQE, or when it armed a POLLIN poll instead |
/// | `requested` | nobody: the reader is about to wait and has asked the loop to arm | the reader, only from `off` |
/// | `running` | the RECV | the loop, when it started one for a `requested` reader |
///
/// - The loop starts a RECV only for a reader's request (``EventLoop/armReceive(_:)``),
///   and the reader asks only from `off`, then does not read(2) again until the
///   loop has put the state back to `off`. So read(2) and a RECV never overlap.
/// - The loop queues a RECV's last data *before* it stores `off` (release); the
///   reader loads the state (acquire) *before* it looks at the queue. A reader that
///   sees `off` therefore also sees every byte that RECV delivered, and takes them
///   before it calls read(2).
/// - Each receipt ends in ``PollDesc/ready(_:)`` for reads, so a reader parked on
///   the PollDesc wakes as for any readiness event (Go's netpollready): the
///   "syscall" of its FD loop is a dequeue.
///
/// This argument is model-checked: `RingReceive.pml` beside this file is a Promela
/// model of the reader, the loop and the kernel's RECV and POLLIN poll, checked with
/// spin by `scripts/check-model` (bytes exactly once and in order, no read(2) beside
/// a RECV, a RECV only on a reader's request, no lost wakeup). A `// model: NAME`
/// comment marks the model step a line stands for.
extension PollDesc {
    static let ringOff: UInt8 = 0
    static let ringRequested: UInt8 = 1
    static let ringRunning: UInt8 = 2

    /// A receipt for this descriptor, on the loop thread. `cap`: the most ring
    /// buffers the descriptor may hold (``URingPoller/Options/receiveCap``). The
    /// poller cancels the RECV when it gets there, but one kernel wakeup can deliver
    /// many more chunks before the cancel lands (as much as the socket held); those
    /// are copied into memory of the queue's own and their ring buffers go straight
    /// back, so the cap on what a reader that stops reading pins of the shared ring
    /// is exact. (The copies hold what the kernel's socket buffer would have held.)
    /// Returns true when this receipt filled the cap: the caller asks the poller to
    /// stop the RECV (``URingPoller/stopReceiving(token:)``).
    @discardableResult
    func ringReceived(_ receipt: RingReceipt, cap: Int) -> Bool {
        var reachedCap = false
        switch receipt {
        case .data(let bid, let base, let count, let ended):
            let address = UInt(bitPattern: base)
            // model: RING_PUSH
            let (copied, atCap) = ringQueue.locked { q -> (Bool, Bool) in
                if q.ringItems < cap {
                    q.push(.bytes(buffer: bid, base: address, offset: 0, count: count))
                    return (false, q.ringItems == cap)
                }
                let copy = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 1)
                copy.copyMemory(from: UnsafeRawPointer(bitPattern: address)!, byteCount: count)
                q.push(.copied(base: UInt(bitPattern: copy), offset: 0, count: count))
                return (true, false)
            }
            if copied { loop.recycleReceiveBuffer(bid) }
            reachedCap = atCap && !ended
            if ended { ringState.store(Self.ringOff, ordering: .releasing) }  // model: RING_STORE_OFF
        case .endOfStream:
            ringQueue.locked { $0.push(.end(0)) }  // model: RING_PUSH
            ringState.store(Self.ringOff, ordering: .releasing)  // model: RING_STORE_OFF
        case .failed(let e):
            ringQueue.locked { $0.push(.end(e)) }  // model: RING_PUSH
            ringState.store(Self.ringOff, ordering: .releasing)  // model: RING_STORE_OFF
        case .stopped:
            ringState.store(Self.ringOff, ordering: .releasing)  // model: RING_STORE_OFF
        case .accepted, .acceptEnded:
            return false  // a listener's: EventLoop.deliverAccepted
        }
        ready(.read)  // model: RING_READY
        return reachedCap
    }

    /// Result of taking from the queue.
    enum RingTake {
        case bytes(Int)
        case end(Int32)
        case empty
    }

    /// Copies what is queued into `dst` (up to `count` bytes, across ring buffers),
    /// recycling each buffer it empties. An end is returned only when no bytes were —
    /// by this call, nor by an earlier part of the same read (`afterBytes`: a readv
    /// filling its next buffer), so an end queued behind bytes is always left for
    /// the next read instead of being popped and lost.
    func takeReceived(into dst: UnsafeMutableRawPointer, count: Int, afterBytes: Bool = false) -> RingTake {
        var copied = 0
        while copied < count {
            let to = UInt(bitPattern: dst + copied)
            let step = ringQueue.locked { q in
                q.take(into: UnsafeMutableRawPointer(bitPattern: to)!, count: count - copied, keepEnd: afterBytes || copied > 0)
            }
            if let bid = step.used { loop.recycleReceiveBuffer(bid) }
            if let e = step.end { return .end(e) }
            if step.copied == 0 { break }
            copied += step.copied
        }
        return copied > 0 ? .bytes(copied) : .empty
    }

    /// Bytes or an end are queued for the reader (``FD/waitReadable()``).
    func hasReceived() -> Bool {
        ringQueue.locked { !$0.isEmpty }
    }

    /// The head chunk whole if it fits in `max` bytes (see ``RingReceiveQueue/takeWhole(max:)``).
    func takeReceivedWhole(max: Int) -> RingWhole {
        let (whole, empty) = ringQueue.locked { q in (q.takeWhole(max: max), q.isEmpty) }
        guard let (bid, address, count) = whole else { return empty ? .empty : .notWhole }
        return .chunk(buffer: bid, bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: count))
    }

    /// What ``takeReceivedWhole(max:)`` found.
    enum RingWhole {
        /// The head chunk, popped: the caller recycles its buffer.
        case chunk(buffer: UInt16, bytes: UnsafeRawBufferPointer)
        /// Nothing queued.
        case empty
        /// Something queued that is not one whole chunk of at most `max` bytes.
        case notWhole
    }

    /// Close, on the loop thread: queued buffers go back, the state to `off`.
    func discardReceived() {
        let loop = self.loop
        ringQueue.locked { q in q.removeAll { loop.recycleReceiveBuffer($0) } }
        ringState.store(Self.ringOff, ordering: .relaxed)
    }
}
