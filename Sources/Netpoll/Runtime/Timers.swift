import CNetpoll
import Synchronization

/// A loop's deadline timers: a binary min-heap whose entries are PollDesc read or
/// write timers, each at most once in the heap. The PollDesc remembers its entries'
/// positions (`rtimerPos`/`wtimerPos`), so changing a deadline moves one entry
/// instead of leaving a stale one behind (a server that sets a 30 s deadline per
/// request would otherwise grow the heap by one entry per request).
///
/// Lock order: a PollDesc's lock may be held while calling in here, never the
/// reverse: `fireExpired` collects entries under the heap lock and fires them after
/// releasing it.
final class TimerHeap: @unchecked Sendable {
    struct Entry {
        var when: Int64
        let pd: PollDesc
        /// Which of the PollDesc's two timers this is (`.read` or `.write`).
        let slot: PollDesc.Mode
        /// What firing expires: `.readWrite` when rd == wd share the read timer.
        var mode: PollDesc.Mode
        var seq: UInt32
    }

    private let heap = Mutex<[Entry]>([])
    /// Earliest `when` in the heap (Int64.max when empty), readable without the
    /// lock: the loop checks it every iteration.
    let next = Atomic<Int64>(Int64.max)

    /// Adds or moves `pd`'s timer. Returns true when it became the earliest, so a
    /// loop sleeping on a later timeout must be woken.
    func modify(_ pd: PollDesc, _ slot: PollDesc.Mode, when: Int64, mode: PollDesc.Mode, seq: UInt32) -> Bool {
        heap.locked { h in
            let pos = slot == .read ? pd.rtimerPos : pd.wtimerPos
            if pos >= 0 {
                h[pos].when = when
                h[pos].mode = mode
                h[pos].seq = seq
                siftUp(&h, siftDown(&h, pos))
            } else {
                h.append(Entry(when: when, pd: pd, slot: slot, mode: mode, seq: seq))
                setPos(h[h.count - 1], h.count - 1)
                siftUp(&h, h.count - 1)
            }
            let earliest = h[0].when
            let old = next.exchange(earliest, ordering: .acquiringAndReleasing)
            return earliest < old
        }
    }

    func stop(_ pd: PollDesc, _ slot: PollDesc.Mode) {
        heap.locked { h in
            let pos = slot == .read ? pd.rtimerPos : pd.wtimerPos
            guard pos >= 0 else { return }
            remove(&h, at: pos)
            next.store(h.first?.when ?? Int64.max, ordering: .releasing)
        }
    }

    var count: Int { heap.locked { $0.count } }

    /// Pops every entry due at `now` and fires it outside the lock. Returns how many fired.
    func fireExpired(now: Int64, into scratch: inout [Entry]) -> Int {
        scratch.removeAll(keepingCapacity: true)
        heap.locked { h in
            while let first = h.first, first.when <= now {
                scratch.append(first)
                remove(&h, at: 0)
            }
            next.store(h.first?.when ?? Int64.max, ordering: .releasing)
        }
        for e in scratch { e.pd.deadlineFired(mode: e.mode, seq: e.seq) }
        let n = scratch.count
        scratch.removeAll(keepingCapacity: true)
        return n
    }

    /// Drops every entry (loop shutdown).
    func removeAll() {
        heap.locked { h in
            for e in h { setPos(e, -1) }
            h.removeAll()
            next.store(Int64.max, ordering: .releasing)
        }
    }

    // MARK: heap plumbing (lock held)

    private func setPos(_ e: Entry, _ pos: Int) {
        if e.slot == .read { e.pd.rtimerPos = pos } else { e.pd.wtimerPos = pos }
    }

    private func remove(_ h: inout [Entry], at pos: Int) {
        setPos(h[pos], -1)
        let last = h.count - 1
        if pos != last {
            h[pos] = h[last]
            setPos(h[pos], pos)
            h.removeLast()
            siftUp(&h, siftDown(&h, pos))
        } else {
            h.removeLast()
        }
    }

    @discardableResult
    private func siftUp(_ h: inout [Entry], _ start: Int) -> Int {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard h[i].when < h[parent].when else { break }
            h.swapAt(i, parent)
            setPos(h[i], i)
            setPos(h[parent], parent)
            i = parent
        }
        return i
    }

    private func siftDown(_ h: inout [Entry], _ start: Int) -> Int {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < h.count && h[l].when < h[m].when { m = l }
            if r < h.count && h[r].when < h[m].when { m = r }
            if m == i { return i }
            h.swapAt(i, m)
            setPos(h[i], i)
            setPos(h[m], m)
            i = m
        }
    }
}
