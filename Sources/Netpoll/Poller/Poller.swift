import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

// The backend contract (Go: the functions every netpoll_*.go provides):
//
//   init                    netpollinit: create the kernel object and the wake channel.
//   register(fd:token:)     netpollopen: watch fd for read, write and peer hang-up,
//                           edge-triggered, once for the descriptor's whole life.
//   deregister(fd:token:)   netpollclose: stop watching; when it returns the poller
//                           holds no reference to the file, so close(2) really closes.
//   arm(token:events:)      netpollarm (Go's level-triggered ports): one-shot backends
//                           watch those directions once more; called by the runtime
//                           when a task is about to wait. Edge-triggered backends
//                           (`armsOnDemand == false`) ignore it.
//   closeDescriptor(fd:token:onClosed:)
//                           netpollclose + close(2): stop watching and close; io_uring
//                           does both through the ring with its next enter. onClosed
//                           runs on the owner thread once the number is free.
//   poll(timeout:_:)        netpoll(delay): deliver ready (token, events); nil waits
//                           forever, .zero never blocks.
//   wake()                  netpollBreak: make a blocked poll return; any thread,
//                           coalesced (Go's netpollWakeSig).
//   close()                 release the kernel objects.
//
//
// Completion mode (io_uring with the reads in the ring): the backend reads a
// connection itself and hands the bytes up. Readiness backends keep the defaults
// below, which do nothing, so the EventLoop calls these on every backend and never
// asks which one it has:
//
//   register(fd:token:role:)
//                           netpollopen, told what the descriptor is: a connected
//                           stream socket the backend may read itself (RECV), a
//                           listener it may accept on itself (ACCEPT); returns
//                           whether it will.
//   poll(timeout:_:received:)
//                           poll, also handing what the backend read (``RingReceipt``:
//                           bytes in one of its buffers, end of stream, an error) to
//                           `received`, in order, per descriptor.
//   armReceive(token:)      a reader (or accepter) found nothing queued and waits:
//                           start reading (accepting).
//   stopReceiving(token:)   the reader holds `receiveCap` buffers: stop until it reads.
//   recycle(buffer:)        a receipt's buffer is free again (owner thread).
//   closesWithoutSyscall    closeDescriptor costs no system call of the caller's.
//
// Adding a backend: this contract, one file for the backend, its case in
// ``Backend/Kind`` with its factory (Backend.swift), and its case in ``AnyPoller``.
//
// Threading: everything belongs to the thread that owns the poller (the
// EventLoop's thread); only `wake()` may be called from anywhere.

/// Readiness reported for a token, already in Go's terms.
///
/// Both backends see kernel poll masks (epoll's `EPOLL*` and poll's `POLL*` bits
/// are identical), so the translation lives here, once:
/// `IN|RDHUP|HUP|ERR → read`, `OUT|HUP|ERR → write`, `ERR → errorPending`, and
/// `error` only when the mask is exactly `ERR` (Go's
/// `pd.setEventErr(ev.Events == EPOLLERR)`) *and* the mask is the descriptor's
/// state: see `init(ringPollMask:)` for why an io_uring poll's is not.
///
/// Not promised: that every readiness change produces an event (a single event
/// may stand for several), nor that an event means an operation will not return
/// `EAGAIN` (spurious events are allowed).
public struct PollEvents: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A reader should retry (data, EOF, hang-up or error).
    public static let read = PollEvents(rawValue: 1 << 0)
    /// A writer should retry (space, hang-up or error).
    public static let write = PollEvents(rawValue: 1 << 1)
    /// The peer hung up (HUP or RDHUP); reported together with `read`.
    public static let hangup = PollEvents(rawValue: 1 << 2)
    /// Go's "event error": the descriptor's state is exactly `EPOLLERR` (epoll), or
    /// it was closed under the poller. A read then fails with `notPollable` (Go:
    /// `netpollcheckerr`).
    public static let error = PollEvents(rawValue: 1 << 3)
    /// The kernel flagged an error on the descriptor (`ERR` in the mask): the next
    /// read or write reports it, and no further event need come for it.
    public static let errorPending = PollEvents(rawValue: 1 << 4)

    static let kernelMaskWanted = UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue)

    /// An epoll event's mask: epoll_wait computes it by polling the file as it
    /// collects the event, so it is the descriptor's state at that moment.
    @inline(__always)
    init(kernelMask m: UInt32) {
        self.init(ringPollMask: m)
        if m == UInt32(EPOLLERR.rawValue) { insert(.error) }
    }

    /// An io_uring poll completion's mask. Unlike epoll's it is not the state: when
    /// the waker passes a key, the kernel posts that key (io_uring/poll.c stashes it
    /// in `__io_poll_execute`), and a TCP reset ends with `sock_def_error_report`
    /// waking with `EPOLLERR` alone, *after* `tcp_done` set the hang-up. A multishot
    /// poll whose task work ran between the two posts a full mask, then a bare
    /// `POLLERR` (seen under a reset load, far more often without DEFER_TASKRUN;
    /// epoll never: docs/performance-log.md). Read as Go's event error, that last
    /// CQE made the next read fail with `notPollable` instead of reporting the data,
    /// end of stream or ECONNRESET. So a bare `ERR` here only wakes both directions
    /// and marks the error pending; the system call tells what it is.
    @inline(__always)
    init(ringPollMask m: UInt32) {
        let inb = UInt32(EPOLLIN.rawValue), out = UInt32(EPOLLOUT.rawValue)
        let rdhup = UInt32(EPOLLRDHUP.rawValue), hup = UInt32(EPOLLHUP.rawValue), err = UInt32(EPOLLERR.rawValue)
        var e = PollEvents()
        if m & (inb | rdhup | hup | err) != 0 { e.insert(.read) }
        if m & (out | hup | err) != 0 { e.insert(.write) }
        if m & (rdhup | hup) != 0 { e.insert(.hangup) }
        if m & err != 0 { e.insert(.errorPending) }
        self = e
    }

    public var description: String {
        var parts: [String] = []
        if contains(.read) { parts.append("read") }
        if contains(.write) { parts.append("write") }
        if contains(.hangup) { parts.append("hangup") }
        if contains(.error) { parts.append("error") }
        if contains(.errorPending) { parts.append("errorPending") }
        return "[" + parts.joined(separator: ",") + "]"
    }
}

/// What a descriptor is, for a backend that may do its input itself.
public enum DescriptorRole: Sendable {
    /// Watched for readiness only.
    case other
    /// A connected (or connecting) stream socket: io_uring completion mode reads it
    /// with a multishot RECV.
    case connection
    /// A listening stream socket: io_uring accepts on it with a multishot ACCEPT
    /// (``URingPoller/Feature/accept``).
    case listener
}

/// Counters a poller keeps on its owner thread; the EventLoop publishes them.
public struct PollerCounters: Sendable, Equatable {
    /// Kernel entries made by the poller: epoll_wait/epoll_pwait2, epoll_ctl,
    /// io_uring_enter, eventfd reads, and the close(2) of ``Poller/closeDescriptor(fd:token:onClosed:)``
    /// where it is not done through the ring. (Wake writes are counted by whoever
    /// wakes; see EventLoop.)
    public var syscalls: UInt64 = 0
    /// CQEs or epoll events for tokens no longer registered, dropped.
    public var staleEvents: UInt64 = 0
    /// Multishot or one-shot polls re-armed, and RECVs started (io_uring only).
    public var rearms: UInt64 = 0
    /// io_uring completion mode: ring buffers handed up and not yet recycled (a
    /// gauge), RECVs that ended because the buffer ring ran dry (`-ENOBUFS`), and
    /// RECVs cancelled because their descriptor held its cap of buffers.
    public var receiveBuffersHeld: UInt64 = 0
    public var receiveStarved: UInt64 = 0
    public var receiveCapped: UInt64 = 0
    /// io_uring with fixed files: descriptors that went without a table slot (the
    /// table was full, or the kernel refused the update) and used their descriptor.
    public var fileTableMisses: UInt64 = 0
    public init() {}
}

/// What a poller is running with, for `netpoll info` and benchmarks.
public struct PollerFeatures: Sendable, CustomStringConvertible {
    public var backend: String
    public var details: [(String, String)]
    public var description: String {
        ([backend] + details.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
    }
}

/// The backend contract; see the table at the top of this file.
///
/// The EventLoop holds a concrete poller (`AnyPoller` is an enum, not an
/// existential) so `poll` specialises on the hot path.
public protocol Poller: AnyObject {
    func register(fd: Int32, token: PollToken) throws(NetpollError)
    func deregister(fd: Int32, token: PollToken) throws(NetpollError)
    /// Stops watching `fd` and closes it; `onClosed` runs on the owner thread once it
    /// is closed. The default deregisters, then calls close(2).
    func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void)
    /// One-shot backends report each direction once per arm (registration arms both);
    /// a waiter must call this after `EAGAIN`, before it waits. Others: no-op.
    func arm(token: PollToken, events: PollEvents) throws(NetpollError)
    /// True when readiness is only reported after ``arm(token:events:)``.
    var armsOnDemand: Bool { get }
    /// Delivers ready events to `body`; returns how many were delivered.
    /// nil waits until an event or `wake()`; `.zero` never blocks.
    func poll(timeout: Duration?, _ body: (PollToken, PollEvents) -> Void) throws(NetpollError) -> Int
    /// Ends a blocked or the next `poll` early. Any thread; coalesced.
    func wake()
    func close()
    var counters: PollerCounters { get }
    var features: PollerFeatures { get }

    // Completion mode; see the table at the top of this file.
    func register(fd: Int32, token: PollToken, role: DescriptorRole) throws(NetpollError) -> Bool
    func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int
    func armReceive(token: PollToken) throws(NetpollError) -> ReceiveArm
    func stopReceiving(token: PollToken)
    func recycle(buffer: UInt16)
    /// Most receive buffers one descriptor may hold before its receive is stopped.
    var receiveCap: Int { get }
    var closesWithoutSyscall: Bool { get }
}

/// Readiness backends: the completion-mode operations do nothing.
extension Poller {
    public func register(fd: Int32, token: PollToken, role: DescriptorRole) throws(NetpollError) -> Bool {
        try register(fd: fd, token: token)
        return false
    }
    @inline(__always)
    public func poll(
        timeout: Duration?, _ body: (PollToken, PollEvents) -> Void, received: (PollToken, RingReceipt) -> Void
    ) throws(NetpollError) -> Int {
        try poll(timeout: timeout, body)
    }
    public func armReceive(token: PollToken) throws(NetpollError) -> ReceiveArm { .none }
    public func stopReceiving(token: PollToken) {}
    public func recycle(buffer: UInt16) {}
    public var receiveCap: Int { 0 }
    public var closesWithoutSyscall: Bool { false }
}

extension Poller {
    public func closeDescriptor(fd: Int32, token: PollToken, onClosed: @escaping () -> Void) {
        // ENOENT/EBADF here mean the kernel already forgot the descriptor.
        try? deregister(fd: fd, token: token)
        Glibc.close(fd)
        onClosed()
    }
}
