import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Descriptors on the loop (Go: poll_runtime_pollOpen/pollClose): registration,
// close through the poller, one-shot arming and completion-mode receives.
extension EventLoop {
    /// Go: poll_runtime_pollOpen. Allocates a PollDesc and registers `fd`. A
    /// `.connection` (a connected or connecting stream socket) is read through the
    /// ring when the poller is in io_uring completion mode; a `.listener` is accepted
    /// on through the ring when the poller uses ``URingPoller/Feature/accept``.
    func openLocal(fd: Int32, role: DescriptorRole = .other) throws(NetpollError) -> PollDesc {
        precondition(inEventLoop, "netpoll: openLocal off the loop thread")
        guard !stopping, let poller else { throw .netClosing }
        let pd = cache.alloc(loop: self)
        pd.reset(fd: fd)
        do {
            let receiving = try poller.register(fd: fd, token: pd.token, role: role)
            pd.receivesThroughRing.store(receiving, ordering: .relaxed)
        } catch {
            pd.evict()
            pd.locked.locked { $0.fd = -1 }
            cache.release(pd)
            throw error
        }
        stats.descriptorsOpen.wrappingAdd(1, ordering: .relaxed)
        return pd
    }

    /// Registers `fd` with this loop, hopping to its thread if needed.
    func open(fd: Int32, role: DescriptorRole = .other) async throws -> PollDesc {
        if inEventLoop { return try openLocal(fd: fd, role: role) }
        return try await submit { [self] () throws(NetpollError) in try openLocal(fd: fd, role: role) }
    }

    /// Go: poll_runtime_pollClose, and the close(2) after it. Deregisters and closes
    /// the descriptor, frees the slot, and runs `then` once the descriptor is closed:
    /// at once with epoll, with the close's completion when io_uring closes it
    /// through the ring. Only after `evict`, with no waiter left. Runs on the loop
    /// thread, or anywhere once the loop stopped.
    func closeLocal(_ pd: PollDesc, then: @escaping @Sendable () -> Void) {
        precondition(pd.isClosing, "netpoll: close of a descriptor that was not evicted")
        precondition(pd.rg.load(ordering: .acquiring) <= PollDesc.pdReady, "netpoll: blocked read on closing descriptor")
        precondition(pd.wg.load(ordering: .acquiring) <= PollDesc.pdReady, "netpoll: blocked write on closing descriptor")
        let fd = pd.locked.locked { s in
            let fd = s.fd
            s.fd = -1
            return fd
        }
        guard fd >= 0 else { return then() }
        stats.descriptorsOpen.wrappingSubtract(1, ordering: .relaxed)
        // After the loop finished there is no poller to leave and no cache to return to.
        guard let poller, !stopped else {
            Glibc.close(fd)
            return then()
        }
        if pd.receivesThroughRing.load(ordering: .relaxed) {
            pd.discardReceived()
            pd.receivesThroughRing.store(false, ordering: .relaxed)
        }
        if !poller.contract.closesWithoutSyscall { stats.ioSyscalls.wrappingAdd(1, ordering: .relaxed) }  // its close(2)
        poller.closeDescriptor(fd: fd, token: pd.token, onClosed: then)
        cache.release(pd)
    }

    /// Runs `closeLocal` on the loop thread (inline if already there); `then` runs
    /// once the descriptor is closed.
    func close(_ pd: PollDesc, then: @escaping @Sendable () -> Void) {
        if inEventLoop {
            closeLocal(pd, then: then)
        } else {
            execute { [self] in closeLocal(pd, then: then) }
        }
    }

    /// Completion mode: a reader of `pd` found nothing queued, set `ringRequested`
    /// and is about to wait. The loop starts the RECV (or arms a POLLIN poll when no
    /// ring buffer is free) and records which in `pd.ringState`.
    func armReceive(_ pd: PollDesc) {
        if inEventLoop {
            armReceiveLocal(pd.token)
        } else {
            let token = pd.token
            execute { [self] in armReceiveLocal(token) }
        }
    }

    func armReceiveLocal(_ token: PollToken) {
        guard let poller, let pd = cache.lookup(token) else { return }
        do {
            switch try poller.armReceive(token: token) {  // model: RING_LOOP_ARM
            case .receiving: pd.ringState.store(PollDesc.ringRunning, ordering: .releasing)  // model: RING_STORE_RUNNING
            case .polling, .none: pd.ringState.store(PollDesc.ringOff, ordering: .releasing)  // model: RING_POLLING_OFF
            }
        } catch {
            // Nothing armed: the reader must read the socket itself, now.
            // model: RING_ARM_FAILED
            printToStderr("netpoll: loop \(index): receive arm failed: \(error)")
            pd.ringState.store(PollDesc.ringOff, ordering: .releasing)
            pd.ready(.read)
        }
    }

    /// Gives a ring buffer back (completion mode), from any thread: directly on the
    /// loop thread, otherwise through the loop's queue (the buffer ring has a
    /// single producer).
    func recycleReceiveBuffer(_ bid: UInt16) {
        if inEventLoop {
            poller?.recycle(buffer: bid)
        } else {
            sendRemote(.recycle(bid))
        }
    }

    /// One-shot pollers: watch `mode` of `pd` once more. On the loop thread the SQE
    /// goes out with the next poll; from elsewhere it is sent to the loop.
    func arm(_ pd: PollDesc, _ mode: PollDesc.Mode) {
        // model: LOOP_ARM (asked for by PollDesc.block at BLOCK_ARM)
        let events: PollEvents = mode == .read ? .read : .write
        if inEventLoop {
            armLocal(pd.token, events)
        } else {
            let token = pd.token
            execute { [self] in armLocal(token, events) }
        }
    }

    func armLocal(_ token: PollToken, _ events: PollEvents) {
        // A token that is no longer current was closed meanwhile: nothing to watch.
        guard let poller, cache.lookup(token) != nil else { return }
        do {
            try poller.arm(token: token, events: events)
        } catch {
            NetpollLog.log(.error, "loop \(index): arm failed: \(error)")
        }
    }

    /// Tests: has this loop's ring deliver a poll completion with `mask` for `pd`,
    /// as the kernel would. False on a backend without a ring. Loop thread only.
    func postRingPollCompletion(for pd: PollDesc, mask: UInt32) throws(NetpollError) -> Bool {
        try poller?.postPollCompletion(token: pd.token, mask: mask) ?? false
    }
}
