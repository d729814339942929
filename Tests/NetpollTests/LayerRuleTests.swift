import Testing

/// The layer rule of the README, checked over the sources: calls flow down, so no
/// file in a lower layer names a type or function declared in a higher one
/// (Support → Poller → Runtime → FD → Net, bottom to top), and Net reaches the
/// Poller layer only through the public backend choice (`Backend`). A grep over
/// the folders, as a test so it runs wherever the suite runs.
@Suite struct LayerRuleTests {
    /// Bottom to top.
    static let layers = ["Support", "Poller", "Runtime", "FD", "Net"]
    /// Poller names the Net layer may use.
    static let netMayUseFromPoller: Set<String> = ["Backend"]

    static var sourceRoot: String {
        // …/Tests/NetpollTests/LayerRuleTests.swift → …/Sources/Netpoll
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Sources/Netpoll"
    }

    static func swiftFiles(in layer: String) -> [String] {
        let dir = sourceRoot + "/" + layer
        guard let names = try? listDirectory(dir) else { return [] }
        return names.filter { $0.hasSuffix(".swift") }.sorted().map { dir + "/" + $0 }
    }

    /// Top-level declarations of a file: types, typealiases and free functions.
    static func declaredNames(_ source: String) -> Set<String> {
        let kinds: Set<Substring> = ["class", "struct", "enum", "protocol", "actor", "typealias", "func"]
        let modifiers: Set<Substring> = ["public", "internal", "fileprivate", "private", "final", "package", "nonisolated"]
        var names = Set<String>()
        for line in source.split(separator: "\n") where !line.hasPrefix(" ") && !line.hasPrefix("\t") {
            var words = line.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ":" || $0 == "<" || $0 == "{" })[...]
            while let w = words.first, modifiers.contains(w) || w.hasPrefix("@") { words = words.dropFirst() }
            guard let kind = words.first, kinds.contains(kind), words.count > 1 else { continue }
            names.insert(String(words[words.startIndex + 1]))
        }
        return names
    }

    /// The code of a file without comments and string literals, as identifiers.
    static func identifiers(_ source: String) -> Set<String> {
        var ids = Set<String>()
        for rawLine in source.split(separator: "\n") {
            var current = ""
            var inString = false
            var previous: Character = " "
            for ch in rawLine {
                if !inString && ch == "/" && previous == "/" { current = ""; break }
                if ch == "\"" && previous != "\\" { inString.toggle() }
                previous = ch
                if inString { continue }
                if ch.isLetter || ch.isNumber || ch == "_" {
                    current.append(ch)
                } else if !current.isEmpty {
                    ids.insert(current)
                    current = ""
                }
            }
            if !current.isEmpty { ids.insert(current) }
        }
        return ids
    }

    @Test func noLayerNamesWhatALayerAboveItDeclares() throws {
        var declared: [String: Set<String>] = [:]
        for layer in Self.layers {
            var names = Set<String>()
            for file in Self.swiftFiles(in: layer) { names.formUnion(Self.declaredNames(try readText(file))) }
            declared[layer] = names
        }
        #expect(!(declared["Runtime"] ?? []).isEmpty, "no sources found under \(Self.sourceRoot)")

        var violations: [String] = []
        for (i, layer) in Self.layers.enumerated() {
            let above = Self.layers[(i + 1)...].reduce(into: Set<String>()) { $0.formUnion(declared[$1] ?? []) }
            for file in Self.swiftFiles(in: layer) {
                let used = Self.identifiers(try readText(file))
                var forbidden = used.intersection(above).subtracting(declared[layer] ?? [])
                if layer == "Net" {
                    forbidden.formUnion(used.intersection(declared["Poller"] ?? []).subtracting(Self.netMayUseFromPoller))
                }
                for name in forbidden.sorted() {
                    violations.append("\(layer)/\(file.split(separator: "/").last!) names \(name)")
                }
            }
        }
        #expect(violations.isEmpty, "layer rule broken:\n\(violations.joined(separator: "\n"))")
    }

    @Test func theCheckSeesAViolation() {
        // The checker itself must be able to fail: a Support file naming EventLoop.
        let support = Self.identifiers("let loop: EventLoop // a comment naming PollDesc\nlet s = \"LoopGroup\"")
        #expect(support.contains("EventLoop"))
        #expect(!support.contains("PollDesc") && !support.contains("LoopGroup"))
        #expect(Self.declaredNames("public final class EventLoop: TaskExecutor {\n    struct Inner {}\n}") == ["EventLoop"])
    }
}

#if canImport(Glibc)
import Glibc
#endif

private struct FileError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "\(path): errno \(errno)" }
}

private func listDirectory(_ path: String) throws -> [String] {
    guard let dir = opendir(path) else { throw FileError(path: path, errno: errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

private func readText(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(path: path, errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw FileError(path: path, errno: errno) }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
