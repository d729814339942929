import Netpoll
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every backend this machine can run; one that cannot is listed and says why.
let backends: [Backend] = [.epoll, .uring]

func usable(_ backend: Backend) -> Bool {
    if case .unusable(let reason) = Backend.probe(backend) {
        print("skipped \(backend): \(reason)")
        return false
    }
    return true
}

/// Descriptors this process has open: a group whose loops stopped has closed its
/// pollers and wake descriptors, so the count comes back to where it was.
func openDescriptorCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { n += 1 }
    }
    return n - 1  // the directory stream itself
}

/// Polls `condition` every 5 ms for up to `limit`.
func waitUntil(_ what: String, within limit: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !(await condition()) {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out waiting for: \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Writes `bytes` and reads the same number back.
func roundTrip(_ conn: TCPConn, _ bytes: [UInt8]) async throws -> [UInt8] {
    try await conn.write(bytes)
    try conn.setReadDeadline(.now + .seconds(10))
    var got: [UInt8] = []
    while got.count < bytes.count {
        let chunk = try await conn.read(maxCount: 4096)
        if chunk.isEmpty { break }
        got += chunk
    }
    return got
}

/// An echo handler.
@Sendable func echo(_ conn: TCPConn) async throws {
    while true {
        let open = try await conn.readBorrowed { bytes in
            if bytes.isEmpty { return false }
            try await conn.write(bytes)
            return true
        }
        if !open { return }
    }
}

/// The integration suites open descriptors and count them: one at a time.
@Suite(.serialized) struct IntegrationTests {}
