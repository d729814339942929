import Testing
#if canImport(Glibc)
import Glibc
#endif

// Descriptors in tests: the one count of this process's descriptors and the leak
// check built on it, the descriptor limit, and the raw pipes and sockets every
// layer's tests open.

// MARK: counting

/// The open descriptors of this process, by number, with what each points at
/// (from /proc/self/fd).
func openFDs() -> [Int32: String] {
    guard let dir = opendir("/proc/self/fd") else { return [:] }
    defer { closedir(dir) }
    let own = dirfd(dir)
    var out: [Int32: String] = [:]
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let n = Int32(name), n != own else { continue }
        var buf = [CChar](repeating: 0, count: 256)
        let len = readlink("/proc/self/fd/\(name)", &buf, buf.count - 1)
        out[n] = len > 0 ? String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }
    return out
}

// MARK: leak check

/// The descriptors a leak check compares. Dispatch opens a timerfd per timer bucket
/// (clock × leeway class) the first time Task.sleep needs one; the library never uses
/// timerfd, so those are not counted.
private func countedFDs() -> [Int32: String] { openFDs().filter { $0.value != "anon_inode:[timerfd]" } }

/// How often, and how far apart, a leak check looks again before it reports: the
/// runtime may hold a descriptor of its own for a moment (libdispatch's worker monitor
/// reads /proc/<tid>/stat).
private let recheckRounds = 25
private let recheckMicroseconds: useconds_t = 20_000

/// Records an issue at `sourceLocation` if `after` holds a different number of
/// descriptors than `before`, naming those that appeared or vanished.
private func reportFDChange(_ before: [Int32: String], _ after: [Int32: String], sourceLocation: SourceLocation) {
    guard after.count != before.count else { return }
    let added = after.filter { before[$0.key] != $0.value }.sorted { $0.key < $1.key }
    let gone = before.filter { after[$0.key] != $0.value }.sorted { $0.key < $1.key }
    Issue.record(
        "descriptor count changed: \(before.count) before, \(after.count) after; new: \(added.map { "\($0.key)→\($0.value)" }); gone: \(gone.map { "\($0.key)→\($0.value)" })",
        sourceLocation: sourceLocation)
}

/// Runs `body` and expects the process to hold the same descriptors afterwards;
/// a mismatch names the descriptors that appeared or vanished.
///
/// The count is the whole process's, so it is only meaningful while no other test
/// opens or closes descriptors: every suite that does is nested in the serialized
/// ``SerializedTests``. Close in this library returns only once close(2) ran, so no
/// grace period is needed beyond a short re-check.
func withNoFDLeak<R>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R) rethrows -> R {
    let before = countedFDs()
    let result = try body()
    var after = countedFDs()
    for _ in 0..<recheckRounds where after.count != before.count {
        usleep(recheckMicroseconds)
        after = countedFDs()
    }
    reportFDChange(before, after, sourceLocation: sourceLocation)
    return result
}

/// ``withNoFDLeak(sourceLocation:_:)`` for an async `body`.
func withNoFDLeak<R>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> R) async rethrows -> R {
    let before = countedFDs()
    let result = try await body()
    var after = countedFDs()
    for _ in 0..<recheckRounds where after.count != before.count {
        try? await Task.sleep(for: .microseconds(recheckMicroseconds))
        after = countedFDs()
    }
    reportFDChange(before, after, sourceLocation: sourceLocation)
    return result
}

// MARK: limit

/// Raises RLIMIT_NOFILE's soft limit toward the hard limit so `needed` descriptors fit.
/// Returns false when even the hard limit is too low.
func ensureDescriptorLimit(_ needed: Int) -> Bool {
    var lim = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return false }
    let want = rlim_t(needed + openFDs().count + 64)
    if lim.rlim_cur >= want { return true }
    guard lim.rlim_max >= want else { return false }
    lim.rlim_cur = lim.rlim_max
    return setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0
}

// MARK: system calls

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

func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { Glibc.close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n], as: UTF8.self)
}

// MARK: pipes and socketpairs

/// A descriptor the test owns; `close()` is idempotent so `defer` is always safe.
final class OwnedFD {
    private(set) var raw: Int32
    init(_ raw: Int32) { self.raw = raw }
    func close() {
        if raw >= 0 { Glibc.close(raw) }
        raw = -1
    }
    /// Hands the descriptor to someone who closes it (a poller's closeDescriptor).
    func release() -> Int32 {
        defer { raw = -1 }
        return raw
    }
    deinit { close() }
}

func setNonblocking(_ fd: Int32) throws {
    let flags = try check("fcntl(F_GETFL)", fcntl(fd, F_GETFL))
    try check("fcntl(F_SETFL)", fcntl(fd, F_SETFL, flags | O_NONBLOCK))
}

/// A non-blocking, close-on-exec pipe (Glibc does not export pipe2 to Swift).
func makePipe() throws -> (r: Int32, w: Int32) {
    var fds: [Int32] = [-1, -1]
    try check("pipe", pipe(&fds))
    do {
        for fd in fds {
            try setNonblocking(fd)
            try check("fcntl(F_SETFD)", fcntl(fd, F_SETFD, FD_CLOEXEC))
        }
    } catch {
        for fd in fds { Glibc.close(fd) }
        throw error
    }
    return (fds[0], fds[1])
}

/// A non-blocking, close-on-exec AF_UNIX stream socketpair.
func makeSocketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    try check("socketpair", socketpair(AF_UNIX, type, 0, &fds))
    return (fds[0], fds[1])
}

/// A ``makePipe()`` pipe (reader, writer), closed when `body` returns.
func withPipe<R>(_ body: (_ reader: OwnedFD, _ writer: OwnedFD) throws -> R) throws -> R {
    let p = try makePipe()
    let r = OwnedFD(p.r), w = OwnedFD(p.w)
    defer { r.close(); w.close() }
    return try body(r, w)
}

/// A ``makeSocketPair()`` socketpair, closed when `body` returns.
func withSocketPair<R>(_ body: (OwnedFD, OwnedFD) throws -> R) throws -> R {
    let (fa, fb) = try makeSocketPair()
    let a = OwnedFD(fa), b = OwnedFD(fb)
    defer { a.close(); b.close() }
    return try body(a, b)
}

@discardableResult
func writeBytes(_ fd: Int32, _ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

/// Reads whatever is there (nonblocking) from a raw descriptor.
func readRaw(_ fd: Int32, max: Int = 4096) -> [UInt8] {
    var buf = [UInt8](repeating: 0, count: max)
    let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    return n > 0 ? Array(buf[0..<n]) : []
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

// MARK: TCP on 127.0.0.1

func socketError(_ fd: Int32) -> Int32 {
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    return err
}

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
