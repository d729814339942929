import Testing
#if canImport(Glibc)
import Glibc
#endif

// The async descriptor-leak check every async suite (Runtime, Net) shares.

/// The open descriptors of this process, by number, with what they point at.
func openFDTable() -> [Int32: String] {
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

/// Async twin of ``withNoFDLeak(sourceLocation:_:)``: runs `body` and expects the
/// process to hold the same descriptors afterwards. Close in this library returns only
/// once close(2) ran, so no grace period is needed; the short re-check absorbs
/// descriptors a concurrently running suite of another folder may hold briefly. A
/// mismatch names the descriptors that appeared or vanished.
func withNoFDLeakAsync<R>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> R
) async rethrows -> R {
    // Dispatch opens a timerfd per timer bucket (clock × leeway class) the first time
    // Task.sleep needs one; the library never uses timerfd, so those are not counted.
    func table() -> [Int32: String] { openFDTable().filter { $0.value != "anon_inode:[timerfd]" } }
    let before = table()
    let result = try await body()
    var after = table()
    for _ in 0..<25 where after.count != before.count {
        try? await Task.sleep(for: .milliseconds(20))
        after = table()
    }
    if after.count != before.count {
        let added = after.filter { before[$0.key] != $0.value }.sorted { $0.key < $1.key }
        let gone = before.filter { after[$0.key] != $0.value }.sorted { $0.key < $1.key }
        Issue.record(
            "descriptor count changed: \(before.count) before, \(after.count) after; new: \(added.map { "\($0.key)→\($0.value)" }); gone: \(gone.map { "\($0.key)→\($0.value)" })",
            sourceLocation: sourceLocation)
    }
    return result
}
