import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Poller suites: the list of poller configurations every test
// runs over, a poller factory, event expectations that report the caller's line,
// descriptor helpers that close what they open, and a /proc/self/fd leak check.

/// The parent of every Poller suite. `.serialized` is inherited by the nested suites
/// (and by the cases of parameterized tests), so descriptor counts taken by
/// ``withNoFDLeak(sourceLocation:_:)`` are not disturbed by a sibling test.
@Suite(.serialized) struct PollerTests {}

// MARK: configurations

/// One way to build a poller. Every configuration appears as a test argument, even
/// one this machine cannot use: the test then prints "skipped: why" and returns, and
/// ``PollerTests/BackendSelection/everyBackendIsUsableHere()`` fails if io_uring
/// vanished without an external reason (sysctl, seccomp).
struct PollerConfig: Sendable, CustomTestStringConvertible {
    let name: String
    let backend: Backend
    let availability: Backend.Availability

    var testDescription: String { name }

    var isUsable: Bool { availability == .usable }

    /// One-shot POLL_ADD: each direction is reported once per
    /// ``Poller/arm(token:events:)`` (registration arms both).
    var isOneShot: Bool { backend.kind == .uring && backend.uring.mode == .oneshot }

    var skipReason: String? {
        if case .unusable(let reason) = availability { return reason }
        return nil
    }

    /// A poller for this configuration, created on (and to be used only on) the calling
    /// thread. `capacity` bounds the epoll event array or the ring's SQ entries.
    func makePoller(capacity: Int? = nil) throws -> any Poller {
        var b = backend
        if let capacity {
            b.epoll.eventCapacity = capacity
            b.uring.entries = UInt32(capacity)
        }
        return try b.makePoller()
    }

    static let all: [PollerConfig] = {
        let uring: [(String, URingPoller.Options)] = [
            ("uring-multishot-defer", .init(mode: .multishot, setup: .deferTaskrun)),
            ("uring-multishot-coop", .init(mode: .multishot, setup: .coopTaskrun)),
            ("uring-multishot-plain", .init(mode: .multishot, setup: .plain)),
            ("uring-oneshot-defer", .init(mode: .oneshot, setup: .deferTaskrun)),
            ("uring-oneshot-plain", .init(mode: .oneshot, setup: .plain)),
        ]
        var list = [PollerConfig(name: "epoll", backend: .epoll, availability: Backend.probe(.epoll))]
        for (name, options) in uring {
            let backend = Backend.uring(options)
            list.append(PollerConfig(name: name, backend: backend, availability: Backend.probe(backend)))
        }
        return list
    }()
}

/// Runs `body` with a fresh poller unless the configuration is unusable here, in which
/// case it says so ("skipped: why") instead of passing silently. The poller is closed
/// afterwards and the descriptor count must be unchanged.
func withPoller(
    _ config: PollerConfig, capacity: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (any Poller) throws -> Void
) throws {
    guard config.isUsable else {
        print("skipped: \(config.name): \(config.skipReason ?? "unusable")")
        return
    }
    try withNoFDLeak(sourceLocation: sourceLocation) {
        let poller = try config.makePoller(capacity: capacity)
        defer { poller.close() }
        try body(poller)
    }
}

// MARK: events

struct Event: Sendable, CustomStringConvertible {
    let token: PollToken
    let events: PollEvents
    var description: String { "\(token)\(events)" }
}

/// One `poll`, its events as an array.
func pollOnce(_ poller: any Poller, timeout: Duration?) throws -> [Event] {
    var out: [Event] = []
    let n = try poller.poll(timeout: timeout) { token, events in out.append(Event(token: token, events: events)) }
    #expect(n == out.count, "poll's count must equal the events delivered")
    return out
}

/// Everything already pending (a few non-blocking polls, until one comes back empty).
@discardableResult
func drainEvents(_ poller: any Poller, rounds: Int = 16) throws -> [Event] {
    var all: [Event] = []
    for _ in 0..<rounds {
        let got = try pollOnce(poller, timeout: .milliseconds(1))
        if got.isEmpty { break }
        all += got
    }
    return all
}

/// Polls until `token` has been reported with every bit of `wanted` (accumulated over
/// events), or `within` passes; records an issue at the caller's line on timeout.
/// Returns the union of the token's events seen.
@discardableResult
func expectEvents(
    _ poller: any Poller, token: PollToken, contains wanted: PollEvents,
    within: Duration = .seconds(1), sourceLocation: SourceLocation = #_sourceLocation
) throws -> PollEvents {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    var seen = PollEvents()
    while true {
        let left = deadline - clock.now
        if left <= .zero { break }
        for e in try pollOnce(poller, timeout: min(left, .milliseconds(20))) where e.token == token {
            seen.formUnion(e.events)
        }
        if seen.isSuperset(of: wanted) { return seen }
    }
    Issue.record("\(token) not reported with \(wanted) within \(within); saw \(seen)", sourceLocation: sourceLocation)
    return seen
}

/// Polls for `duration` and records an issue at the caller's line if `token` is
/// reported with any bit of `matching`.
func expectNoEvents(
    _ poller: any Poller, token: PollToken, matching: PollEvents = [.read, .write, .hangup, .error],
    for duration: Duration = .milliseconds(200), sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let clock = ContinuousClock()
    let deadline = clock.now + duration
    while true {
        let left = deadline - clock.now
        if left <= .zero { return }
        for e in try pollOnce(poller, timeout: left) where e.token == token && !e.events.isDisjoint(with: matching) {
            Issue.record("\(token) reported \(e.events) but nothing matching \(matching) was expected", sourceLocation: sourceLocation)
            return
        }
    }
}

/// A token as the runtime makes them: PollCache slot (high 32 bits) and seq (low).
func token(slot: UInt32, seq: UInt32 = 1) -> PollToken {
    PollToken(slot: slot, seq: seq)
}

// MARK: descriptors

struct SystemCallFailed: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

@discardableResult
func check(_ call: String, _ rc: Int32) throws -> Int32 {
    if rc < 0 { throw SystemCallFailed(call: call, errno: errno) }
    return rc
}

/// The open descriptors of this process (numbers), from /proc/self/fd.
func openFDs() -> Set<Int32> {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    let own = dirfd(dir)
    defer { closedir(dir) }
    var fds = Set<Int32>()
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let fd = Int32(name), fd != own { fds.insert(fd) }
    }
    return fds
}

/// Number of open descriptors of this process.
func openFDCount() -> Int { openFDs().count }

func fdTarget(_ fd: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 256)
    let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
    return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
}

/// Runs `body` and expects the process's descriptor count to be the same afterwards.
///
/// The Poller suites are `.serialized`, but other suites of the test target may run
/// beside them and open descriptors of their own. So a difference is confirmed by
/// descriptors: a descriptor that appeared during `body` and is still open after a
/// grace period of one second is reported (with what it points to).
func withNoFDLeak<R>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R) rethrows -> R {
    let before = openFDs()
    let result = try body()
    var after = openFDs()
    var waited = 0
    while after.count != before.count && !after.subtracting(before).isEmpty && waited < 50 {
        usleep(20_000)
        waited += 1
        after = openFDs()
    }
    let appeared = after.subtracting(before)
    if after.count != before.count && !appeared.isEmpty {
        let what = appeared.sorted().prefix(8).map { "\($0)→\(fdTarget($0))" }.joined(separator: ", ")
        Issue.record("descriptor count changed: \(before.count) before, \(after.count) after; new: \(what)", sourceLocation: sourceLocation)
    }
    return result
}

/// A descriptor the test owns; `close()` is idempotent so `defer` is always safe.
final class OwnedFD {
    private(set) var raw: Int32
    init(_ raw: Int32) { self.raw = raw }
    func close() {
        if raw >= 0 { Glibc.close(raw) }
        raw = -1
    }
    deinit { close() }
}

func setNonblocking(_ fd: Int32) throws {
    let flags = try check("fcntl(F_GETFL)", fcntl(fd, F_GETFL))
    try check("fcntl(F_SETFL)", fcntl(fd, F_SETFL, flags | O_NONBLOCK))
}

/// A nonblocking AF_UNIX stream socketpair, closed when `body` returns.
func withSocketPair<R>(_ body: (OwnedFD, OwnedFD) throws -> R) throws -> R {
    var fds: [Int32] = [-1, -1]
    try check("socketpair", socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds))
    let a = OwnedFD(fds[0]), b = OwnedFD(fds[1])
    defer { a.close(); b.close() }
    return try body(a, b)
}

/// A nonblocking pipe (reader, writer), closed when `body` returns.
func withPipe<R>(_ body: (_ reader: OwnedFD, _ writer: OwnedFD) throws -> R) throws -> R {
    var fds: [Int32] = [-1, -1]
    try check("pipe", pipe(&fds))
    let r = OwnedFD(fds[0]), w = OwnedFD(fds[1])
    defer { r.close(); w.close() }
    for fd in fds {
        try setNonblocking(fd)
        try check("fcntl(F_SETFD)", fcntl(fd, F_SETFD, FD_CLOEXEC))
    }
    return try body(r, w)
}

@discardableResult
func writeBytes(_ fd: Int32, _ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

/// Reads until EAGAIN (or EOF); returns the bytes read.
@discardableResult
func drainReadable(_ fd: Int32) -> Int {
    var total = 0
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n > 0 { total += n; continue }
        if n < 0 && errno == EINTR { continue }
        return total
    }
}

func socketError(_ fd: Int32) -> Int32 {
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    return err
}

// MARK: TCP on 127.0.0.1

func loopback(port: UInt16) -> sockaddr_in {
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return sa
}

func tcpSocket(nonblocking: Bool = false) throws -> OwnedFD {
    var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonblocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    return OwnedFD(try check("socket", socket(AF_INET, type, 0)))
}

@discardableResult
func withSockaddr<R>(_ sa: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
    var sa = sa
    return try withUnsafePointer(to: &sa) {
        try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

func localPort(_ fd: Int32) throws -> UInt16 {
    var sa = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = try withUnsafeMutablePointer(to: &sa) {
        try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try check("getsockname", getsockname(fd, $0, &len)) }
    }
    return UInt16(bigEndian: sa.sin_port)
}

/// A listening socket on 127.0.0.1, port chosen by the kernel.
func tcpListener() throws -> (OwnedFD, UInt16) {
    let l = try tcpSocket()
    var one: Int32 = 1
    _ = setsockopt(l.raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    try withSockaddr(loopback(port: 0)) { try check("bind", bind(l.raw, $0, $1)) }
    try check("listen", listen(l.raw, 16))
    return (l, try localPort(l.raw))
}

/// A port on 127.0.0.1 that nobody listens on (bound once, then released).
func closedLoopbackPort() throws -> UInt16 {
    let s = try tcpSocket()
    defer { s.close() }
    try withSockaddr(loopback(port: 0)) { try check("bind", bind(s.raw, $0, $1)) }
    return try localPort(s.raw)
}

// MARK: threads and limits

/// Runs `body` on a new pthread and joins it. Used where the thread itself matters
/// (a per-thread seccomp filter, a wake from "another thread").
func onNewThread(_ body: @escaping () -> Void) -> JoinableThread {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
        b.body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create: \(rc)")
    return JoinableThread(tid: tid)
}

final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

struct JoinableThread {
    let tid: pthread_t
    func join() { pthread_join(tid, nil) }
}

/// A value written by one thread and read by another after `join()`.
final class Handoff<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Raises RLIMIT_NOFILE's soft limit toward the hard limit so `needed` descriptors fit.
/// Returns false when even the hard limit is too low.
func ensureDescriptorLimit(_ needed: Int) -> Bool {
    var lim = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return false }
    let want = rlim_t(needed + openFDCount() + 64)
    if lim.rlim_cur >= want { return true }
    guard lim.rlim_max >= want else { return false }
    lim.rlim_cur = lim.rlim_max
    return setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0
}

func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { Glibc.close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n], as: UTF8.self)
}

