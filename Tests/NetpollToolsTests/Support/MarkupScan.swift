import Foundation

/// Just enough of an HTML/SVG reader for the report tests: the report writes every
/// attribute as name="value" with `"`, `<`, `>` escaped, so a tag ends at the first `>`.
enum MarkupScan {
    struct Element {
        var tag: String
        var attributes: [String: String]
        /// Text up to the next tag (a `<text>`'s label; empty for most shapes).
        var text: String

        subscript(name: String) -> String? { attributes[name] }
        func number(_ name: String) -> Double? { attributes[name].flatMap(Double.init) }
    }

    /// The markup of `<figure id="chart-ID">…</figure>`, or nil.
    static func figure(_ id: String, in html: String) -> String? {
        guard let start = html.range(of: "<figure class=\"chart\" id=\"chart-\(id)\""),
              let end = html.range(of: "</figure>", range: start.upperBound..<html.endIndex) else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }

    /// Every element with this tag name, in document order.
    static func elements(_ tag: String, in markup: String) -> [Element] {
        var found: [Element] = []
        var rest = markup[...]
        while let open = rest.range(of: "<\(tag) ") ?? rest.range(of: "<\(tag)>") {
            guard let close = rest.range(of: ">", range: open.upperBound..<rest.endIndex) else { break }
            let inside = rest[open.upperBound..<close.lowerBound]
            let textEnd = rest.range(of: "<", range: close.upperBound..<rest.endIndex)?.lowerBound ?? rest.endIndex
            found.append(Element(tag: tag, attributes: attributes(inside), text: unescape(String(rest[close.upperBound..<textEnd]))))
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func attributes(_ text: Substring) -> [String: String] {
        var result: [String: String] = [:]
        var rest = text
        while let equals = rest.range(of: "=\"") {
            let name = rest[..<equals.lowerBound].split(separator: " ").last.map(String.init) ?? ""
            guard let quote = rest.range(of: "\"", range: equals.upperBound..<rest.endIndex) else { break }
            result[name] = unescape(String(rest[equals.upperBound..<quote.lowerBound]))
            rest = rest[quote.upperBound...]
        }
        return result
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&nbsp;", with: "\u{A0}").replacingOccurrences(of: "&amp;", with: "&")
    }
}
