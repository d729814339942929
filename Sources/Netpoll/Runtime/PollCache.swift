/// Go's `pollcache`: a loop's slab of PollDescs. Slots are type-stable and never
/// freed while the loop lives, so a token (``PollToken``: slot index and fdseq) taken from a
/// late event or timer always names a valid object; `free` bumps `fdseq`, so that
/// token no longer matches and the event is dropped.
///
/// Owned by the loop thread: every method runs there (open and close hop to the
/// loop), so no lock is needed.
struct PollCache {
    private(set) var all: [PollDesc] = []
    /// `all` again, unretained: the per-event lookup hands out a reference with no
    /// retain and release (`all` keeps every PollDesc alive for the loop's life;
    /// see docs/runtime-tricks.md#unmanaged).
    private var unretained: [Unmanaged<PollDesc>] = []
    private var free: [PollDesc] = []
    private(set) var live = 0

    mutating func alloc(loop: EventLoop) -> PollDesc {
        live += 1
        if let pd = free.popLast() { return pd }
        precondition(all.count < Int(PollToken.slotLimit), "netpoll: poll cache exhausted")
        let pd = PollDesc(loop: loop, index: UInt32(all.count))
        all.append(pd)
        unretained.append(Unmanaged.passUnretained(pd))
        return pd
    }

    mutating func release(_ pd: PollDesc) {
        // Increment fdseq so that events still in flight for the old descriptor do
        // not mark the reused slot ready. Zero is skipped so a token is never 0.
        var next = pd.fdseq.load(ordering: .relaxed) &+ 1
        if next == 0 { next = 1 }
        pd.fdseq.store(next, ordering: .releasing)
        pd.peerGone.store(false, ordering: .relaxed)
        live -= 1
        free.append(pd)
    }

    /// ``lookup(_:)`` without a retain, for the per-event path: use the result with
    /// `_withUnsafeGuaranteedRef`, on the loop thread, before the cache changes
    /// (see docs/runtime-tricks.md#guaranteed-ref).
    @inline(__always)
    func lookupUnretained(_ token: PollToken) -> Unmanaged<PollDesc>? {
        let idx = Int(token.slot)
        guard idx < unretained.count else { return nil }
        let ref = unretained[idx]
        let current = ref._withUnsafeGuaranteedRef { $0.fdseq.load(ordering: .relaxed) == token.seq }
        return current ? ref : nil
    }

    /// The PollDesc a token names, if the token is still current.
    @inline(__always)
    func lookup(_ token: PollToken) -> PollDesc? {
        let idx = Int(token.slot)
        guard idx < all.count else { return nil }
        let pd = all[idx]
        guard pd.fdseq.load(ordering: .relaxed) == token.seq else { return nil }
        return pd
    }
}
