import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

/// First attempts that do not suspend: a borrowed read and a write tried at once,
/// in a synchronous call.
///
/// Why: every call of an async function takes a task-allocator frame and an
/// indirect call, whether it suspends or not. On an echo connection the read
/// after a wakeup finds data, and the write after it finds room, nearly every
/// time, yet `borrowRead` and `write(_:written:)` cost a frame each per message.
/// ``Conn/readBorrowed(upTo:_:)`` and ``Conn/write(_:)`` are inlinable and call
/// these synchronous attempts first; only when one cannot finish (no data, no
/// room, a lock held by another task, a receive queue that the last read left
/// empty) does the caller go on with the async path, which then waits.
///
/// Each attempt has the full operation's semantics: the same lock, the same
/// deadline and close checks (`prepare`), the same counting, and a write that
/// went out in part keeps the write lock until the async rest (`finishWrite`) has
/// written the remainder, so no other writer's bytes land in between.
///
/// The saving needs the inlinable callers inlined (docs/runtime-tricks.md#at-once).
extension FD {
    /// What ``writeAtOnce(_:written:)`` leaves to do.
    @usableFromInline
    enum WriteAttempt {
        /// Every byte went out; the lock is released.
        case done
        /// The write lock is held and `written` bytes went out: call
        /// ``finishWrite(_:written:waitFirst:)``, which releases it. `waitFirst`: the
        /// kernel just answered EAGAIN, so wait before trying again.
        case holding(written: Int, waitFirst: Bool)
        /// Another task holds the write lock: nothing was done; take the async
        /// ``write(_:written:)`` path, which queues for it.
        case busy
    }

    /// Tries to write all of `buffer` without waiting. Throws what
    /// ``write(_:written:)`` would (with the lock released; no byte went out: it
    /// throws only on its one send). No `inout` count: a variable passed by
    /// reference and kept across the caller's later await would cost the caller a
    /// task allocation.
    @usableFromInline
    func writeAtOnce(_ buffer: UnsafeRawBufferPointer) throws -> WriteAttempt {
        guard fdmu.tryRWLock(read: false) else { return .busy }
        do {
            try prepare(.write)
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                writeUnlock()
                return .done
            }
            let chunk = callCount(min(buffer.count, FD.maxRW), .write)
            guard let r = try attempt(.write, writeName, { send(base, chunk) }) else {
                return .holding(written: 0, waitFirst: true)
            }
            if r == buffer.count {
                writeUnlock()
                return .done
            }
            if r == 0 { throw NetpollError.wroteNothing(writeName) }
            return .holding(written: r, waitFirst: false)
        } catch {
            writeUnlock()
            throw error
        }
    }

    /// The rest of a write ``writeAtOnce(_:written:)`` began, with its lock held.
    @usableFromInline
    func finishWrite(_ buffer: UnsafeRawBufferPointer, written: inout Int, waitFirst: Bool) async throws {
        defer { writeUnlock() }
        if waitFirst { try await wait(.write) }
        try await writeRest(buffer, written: &written)
    }

    /// Tries a borrowed read without waiting (see ``borrow(upTo:)``). nil: take the
    /// async path. When the kernel answers EAGAIN, the receive queue is empty at
    /// that moment, which is what a short read tells as well: the drained hint is
    /// set (see ``receiveQueueDrained``), so the async read waits at once instead of
    /// asking the kernel a second time.
    @usableFromInline
    func borrowAtOnce(upTo maxCount: Int) throws -> BorrowedBytes? {
        // Completion mode reads what the ring queued, on its own path.
        guard !ringReceive else { return nil }
        // A short read left the queue empty: the async read waits for the event.
        if isStream && receiveQueueDrained.load(ordering: .relaxed) { return nil }
        guard fdmu.tryRWLock(read: true) else { return nil }
        defer { readUnlock() }
        let limit = callCount(max(0, min(maxCount, ReadBufferPool.bufferSize)), .read)
        guard limit > 0 else { return BorrowedBytes(start: nil, count: 0, ringBuffer: -1) }
        try prepare(.read)
        var buffer: UnsafeMutableRawPointer?
        let read = try attempt(.read, "read") {
            let (b, r) = readIntoPoolBuffer(limit)
            buffer = b
            return r
        }
        guard let read else {
            noteReceiveQueueEmpty()
            return nil
        }
        noteRead(read, of: limit)
        return BorrowedBytes(start: buffer, count: read, ringBuffer: -1)
    }
}
