import Foundation
import Testing
@testable import Netpoll

extension SerializedTests.PollerTests {
    /// One table of the `NETPOLL_*` variables: ``Settings/variables``, built from the
    /// types that parse them. Every copy in the README and the DocC catalog must be
    /// exactly ``Settings/environmentTable``'s rows, so a new backend, mode or rule
    /// cannot leave a stale copy behind.
    @Suite struct EnvironmentTableTests {
        static let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        static func variableRows(_ text: String) -> [String] {
            text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { $0.hasPrefix("| `NETPOLL_") }
        }

        static var documents: [URL] {
            let docc = root.appendingPathComponent("Sources/Netpoll/Netpoll.docc")
            let articles = (try? FileManager.default.contentsOfDirectory(at: docc, includingPropertiesForKeys: nil)) ?? []
            return [root.appendingPathComponent("README.md")] + articles.filter { $0.pathExtension == "md" }
        }

        @Test func theTableListsEveryValueTheParsersAccept() {
            let table = Settings.environmentTable
            for c in Backend.Choice.allCases { #expect(table.contains("`\(c.rawValue)`"), "NETPOLL_BACKEND lacks \(c.rawValue)") }
            for m in URingPoller.Mode.allCases { #expect(table.contains("`\(m.rawValue)`"), "NETPOLL_URING_MODE lacks \(m.rawValue)") }
            for s in URingPoller.Setup.allCases { #expect(table.contains("`\(s.rawValue)`"), "NETPOLL_URING_SETUP lacks \(s.rawValue)") }
            #expect(Self.variableRows(table).count == Backend.environmentKeys.count)
            #expect(Set(Settings.variables.map(\.name)) == Set(Backend.environmentKeys))
        }

        @Test func everyCopyInTheDocsIsTheGeneratedTable() throws {
            let expected = Self.variableRows(Settings.environmentTable)
            var copies = 0
            for url in Self.documents {
                let rows = Self.variableRows(try String(contentsOf: url, encoding: .utf8))
                if rows.isEmpty { continue }
                copies += 1
                #expect(rows == expected, """
                    \(url.lastPathComponent): the NETPOLL_* table differs from Settings.environmentTable; paste this:
                    \(Settings.environmentTable)
                    """)
            }
            #expect(copies >= 1, "the README shows no NETPOLL_* table")
        }
    }
}
