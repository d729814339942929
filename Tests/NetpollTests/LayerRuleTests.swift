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

    static let typeKinds: Set<Substring> = ["class", "struct", "enum", "protocol", "actor", "typealias"]
    static let memberKinds: Set<Substring> = ["func", "var", "let", "case"]
    static let modifiers: Set<Substring> = [
        "public", "internal", "fileprivate", "private", "final", "package", "nonisolated", "static", "mutating",
        "override", "lazy", "weak", "unowned", "indirect", "convenience", "required", "borrowing", "consuming",
    ]

    /// The (kind, name) a declaration line introduces, modifiers and attributes skipped.
    static func declaration(_ line: Substring) -> (kind: Substring, name: String)? {
        let line = line.replacing(/@\w+(\([^)]*\))?/, with: "")
        var words = line.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ":" || $0 == "<" || $0 == "{" || $0 == "=" })[...]
        while let w = words.first, modifiers.contains(w) || w.hasPrefix("@") || w.hasPrefix("private(") || w.hasPrefix("public(") {
            words = words.dropFirst()
        }
        guard let kind = words.first, words.count > 1 else { return nil }
        let name = words[words.startIndex + 1]
        guard let first = name.first, first.isLetter || first == "_" else { return nil }
        return (kind, String(name))
    }

    /// What a file declares that another layer could name: types at any depth
    /// (nested ones too), and top-level functions and globals (`let`/`var`).
    static func declaredNames(_ source: String) -> Set<String> {
        var names = Set<String>()
        for line in source.split(separator: "\n") {
            let indented = line.hasPrefix(" ") || line.hasPrefix("\t")
            guard let (kind, name) = declaration(line.drop { $0 == " " || $0 == "\t" }) else { continue }
            if typeKinds.contains(kind) || (!indented && (kind == "func" || kind == "var" || kind == "let")) {
                names.insert(name)
            }
        }
        return names
    }

    /// Members a file adds to the types named in `types` (functions, properties and
    /// cases declared directly inside `extension T` where T is one of them): how an
    /// upper layer would hand a lower type a member for the lower layer to call up.
    static func extensionMembers(_ source: String, extending types: Set<String>) -> Set<String> {
        var names = Set<String>()
        var inside = false
        for line in source.split(separator: "\n") {
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                inside = false
                let words = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "{" || $0 == "<" })
                if let e = words.firstIndex(of: "extension"), e + 1 < words.count,
                   let base = words[e + 1].split(separator: ".").first, types.contains(String(base)) {
                    inside = true
                }
                continue
            }
            // Directly inside: four spaces of indentation, no more.
            guard inside, line.hasPrefix("    "), !line.hasPrefix("     "),
                  let (kind, name) = declaration(line.dropFirst(4)), memberKinds.contains(kind) else { continue }
            names.insert(name)
        }
        return names
    }

    /// Identifiers used as members (`x.name`), outside comments and strings.
    static func memberUses(_ source: String) -> Set<String> {
        var uses = Set<String>()
        for rawLine in source.split(separator: "\n") {
            var current = ""
            var afterDot = false
            var collecting = false
            var inString = false
            var previous: Character = " "
            for ch in rawLine {
                if !inString && ch == "/" && previous == "/" { collecting = false; break }
                if ch == "\"" && previous != "\\" { inString.toggle() }
                previous = ch
                if inString { continue }
                if ch.isLetter || ch.isNumber || ch == "_" {
                    if current.isEmpty { collecting = afterDot }
                    current.append(ch)
                } else {
                    if collecting && !current.isEmpty { uses.insert(current) }
                    current = ""
                    collecting = false
                    afterDot = ch == "."
                }
            }
            if collecting && !current.isEmpty { uses.insert(current) }
        }
        return uses
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
        var sources: [String: [(file: String, text: String)]] = [:]
        for layer in Self.layers {
            var names = Set<String>()
            for file in Self.swiftFiles(in: layer) {
                let text = try readText(file)
                names.formUnion(Self.declaredNames(text))
                sources[layer, default: []].append((file, text))
            }
            declared[layer] = names
        }
        #expect(!(declared["Runtime"] ?? []).isEmpty, "no sources found under \(Self.sourceRoot)")

        var violations: [String] = []
        for (i, layer) in Self.layers.enumerated() {
            let above = Self.layers[(i + 1)...].reduce(into: Set<String>()) { $0.formUnion(declared[$1] ?? []) }
            // Members the layers above add to this layer's types (or lower ones'),
            // unless this layer declares a member of that name too.
            let lowerTypes = Self.layers[...i].reduce(into: Set<String>()) { $0.formUnion(declared[$1] ?? []) }
            var addedAbove = Set<String>()
            for upper in Self.layers[(i + 1)...] {
                for (_, text) in sources[upper] ?? [] { addedAbove.formUnion(Self.extensionMembers(text, extending: lowerTypes)) }
            }
            var ownMembers = Set<String>()
            for (_, text) in sources[layer] ?? [] {
                for line in text.split(separator: "\n") where line.hasPrefix(" ") {
                    if let (kind, name) = Self.declaration(line.drop { $0 == " " }), Self.memberKinds.contains(kind) { ownMembers.insert(name) }
                }
            }
            addedAbove.subtract(ownMembers)
            for (file, text) in sources[layer] ?? [] {
                let used = Self.identifiers(text)
                var forbidden = used.intersection(above).subtracting(declared[layer] ?? [])
                if layer == "Net" {
                    forbidden.formUnion(used.intersection(declared["Poller"] ?? []).subtracting(Self.netMayUseFromPoller)
                        .subtracting(declared["Net"] ?? []))
                }
                forbidden.formUnion(Self.memberUses(text).intersection(addedAbove))
                for name in forbidden.sorted() {
                    violations.append("\(layer)/\(file.split(separator: "/").last!) names \(name)")
                }
            }
        }
        #expect(violations.isEmpty, "layer rule broken:\n\(violations.joined(separator: "\n"))")
    }

    /// Lines that build a `.system` error themselves, outside the errno door.
    static func handBuiltSystemErrors(_ source: String) -> [Substring] {
        source.split(separator: "\n").filter { line in
            let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return code.contains(".system(") && !code.contains("case .system(") && !code.contains("case let .system(")
        }
    }

    /// Every system-call failure becomes a NetpollError in Support/Errno.swift (the
    /// errno door), so there is one place to read (or fault-inject) them.
    @Test func everySystemErrorIsBuiltAtTheErrnoDoor() throws {
        var found: [String] = []
        for layer in Self.layers {
            for path in Self.swiftFiles(in: layer) where !path.hasSuffix("/Support/Errno.swift") {
                found += Self.handBuiltSystemErrors(try readText(path)).map { "\(path): \($0)" }
            }
        }
        #expect(!Self.swiftFiles(in: "Support").isEmpty)
        #expect(found.isEmpty, "errors built outside the errno door:\n\(found.joined(separator: "\n"))")
        // The check can fail.
        #expect(Self.handBuiltSystemErrors("throw .system(\"read\", e)\nif case .system(_, let e) = err {}\n// .system(") .count == 1)
    }

    @Test func theCheckSeesAViolation() {
        // The checker itself must be able to fail: a Support file naming EventLoop.
        let support = Self.identifiers("let loop: EventLoop // a comment naming PollDesc\nlet s = \"LoopGroup\"")
        #expect(support.contains("EventLoop"))
        #expect(!support.contains("PollDesc") && !support.contains("LoopGroup"))
        #expect(Self.declaredNames("public final class EventLoop: TaskExecutor {\n    struct Inner {}\n    func run() {}\n}\nlet shared = 1")
            == ["EventLoop", "Inner", "shared"])
        #expect(Self.extensionMembers("extension PollDesc {\n    func upward() {}\n    @inline(__always) static let limit = 3\n        var local = 1\n}\nextension Other {\n    func elsewhere() {}\n}",
                                      extending: ["PollDesc"]) == ["upward", "limit"])
        #expect(Self.memberUses("pd.upward() // .hidden\nlet x = \".quoted\"") == ["upward"])
    }
}

#if canImport(Glibc)
import Glibc
#endif

struct FileError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "\(path): errno \(errno)" }
}

func listDirectory(_ path: String) throws -> [String] {
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

func readText(_ path: String) throws -> String {
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
