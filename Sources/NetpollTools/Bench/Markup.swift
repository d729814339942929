import Foundation

/// Text made safe for HTML and SVG, in element content and in quoted attribute
/// values alike. Everything a report shows can come from outside: peer names and
/// commands from the command line, failure reasons from a child's stderr.
func escapeMarkup(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        // Other C0 controls (and DEL) are not allowed in XML, which inline SVG
        // stays close to; a child's garbage output must not break the file.
        case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\u{FFFD}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
