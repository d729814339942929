import Testing

/// docs/runtime-tricks.md and the code it lists, kept together: the runtime's
/// symbols are reached from Swift through `RuntimeHooks` only, every pointer into
/// the page names an entry that exists, and the tricks a grep can find point to it.
/// (Serialized: it reads files, and the leak checks count descriptors.)
extension SerializedTests {
    @Suite struct RuntimeTricksDocTests {
        static var packageRoot: String {
            // …/Tests/NetpollTests/RuntimeTricksDocTests.swift → …
            var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
            parts.removeLast(3)
            return parts.joined(separator: "/")
        }

        /// Every file under Sources/ with one of `suffixes`, as (path from the package
        /// root, text).
        static func sources(_ suffixes: [String]) throws -> [(path: String, text: String)] {
            var out: [(String, String)] = []
            func walk(_ dir: String) throws {
                for name in try listDirectory(packageRoot + "/" + dir).sorted() {
                    let path = dir + "/" + name
                    if suffixes.contains(where: { name.hasSuffix($0) }) {
                        out.append((path, try readText(packageRoot + "/" + path)))
                    } else if !name.contains(".") {
                        try? walk(path)
                    }
                }
            }
            try walk("Sources")
            return out
        }

        /// The C functions under `RuntimeHooks` (resume.c).
        static let runtimeHookFunctions = [
            "cnp_install_resume_hook", "cnp_set_resume_target", "cnp_current_task", "cnp_current_task_is_cancelled",
        ]

        @Test func runtimeHooksAreCalledOnlyFromRuntimeHooks() throws {
            let files = try Self.sources([".swift"])
            #expect(!files.isEmpty, "no Swift sources found under \(Self.packageRoot)/Sources")
            for (path, text) in files where !path.hasSuffix("Runtime/RuntimeHooks.swift") {
                let ids = LayerRuleTests.identifiers(text)
                for name in Self.runtimeHookFunctions where ids.contains(name) {
                    Issue.record("\(path) calls \(name): go through RuntimeHooks (docs/runtime-tricks.md#runtimehooks)")
                }
            }
        }

        @Test func everyPointerNamesAnEntryThatExists() throws {
            let doc = try readText(Self.packageRoot + "/docs/runtime-tricks.md")
            let anchors = Set(doc.matches(of: /<a id="([a-z0-9-]+)"><\/a>/).map { String($0.1) })
            #expect(anchors.count >= 20, "docs/runtime-tricks.md: \(anchors.count) entries found")
            // Links inside the page too.
            for link in doc.matches(of: /\]\(#([a-z0-9-]+)\)/) where !anchors.contains(String(link.1)) {
                Issue.record("docs/runtime-tricks.md links to #\(link.1), which it does not define")
            }
            var pointers = 0
            let manifest = ("Package.swift", try readText(Self.packageRoot + "/Package.swift"))
            for (path, text) in try Self.sources([".swift", ".c", ".h"]) + [manifest] {
                for m in text.matches(of: /runtime-tricks\.md#([a-z0-9-]+)(?:, #([a-z0-9-]+))?/) {
                    for name in [String(m.1)] + (m.2.map { [String($0)] } ?? []) {
                        pointers += 1
                        if !anchors.contains(name) {
                            Issue.record("\(path) points to docs/runtime-tricks.md#\(name), which does not exist")
                        }
                    }
                }
            }
            #expect(pointers >= 40, "only \(pointers) pointers into docs/runtime-tricks.md found")
        }

        /// The tricks a line shows by itself, and `@inline(__always)` on an async
        /// function, point to the page on that line or in the few lines above it (a
        /// comment block may explain several).
        @Test func everyTrickAGrepFindsPointsToThePage() throws {
            let markers = [
                "_withUnsafeGuaranteedRef", "_ = isolation", "unowned(unsafe)", "@exclusivity(unchecked)",
                "preconditionIsolated()", "_read {", "swift_task_",
            ]
            // Test-only C (the census) names runtime symbols for its own reasons.
            for (path, text) in try Self.sources([".swift", ".c"]) where !path.contains("CNetpollTestSupport") {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                for (i, line) in lines.enumerated() {
                    let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                    var found = markers.first(where: { code.contains($0) })
                    if found == nil && code.contains("@inline(__always)") {
                        // An async function forced inline: its declaration up to the body.
                        var declaration = ""
                        for next in lines[i...].prefix(8) {
                            let part = next.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false)
                            declaration += part.first ?? ""
                            if next.contains("{") { break }
                        }
                        let head = declaration.split(separator: "{", maxSplits: 1).first ?? ""
                        if head.contains(" async") { found = "@inline(__always) on an async function" }
                    }
                    guard let marker = found else { continue }
                    let window = lines[max(0, i - 10)...i]
                    if !window.contains(where: { $0.contains("runtime-tricks.md") }) {
                        Issue.record("\(path):\(i + 1): \(marker) with no pointer to docs/runtime-tricks.md nearby")
                    }
                }
            }
        }
    }
}
