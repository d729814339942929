import Foundation

/// Number formats the report shows: figures people read, and exact values for
/// machines (tests, anyone scraping the file).
enum Figure {
    /// "179,219", "24.0", "5.58": three significant digits below 1000, whole
    /// numbers with thousands separators above.
    static func text(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let magnitude = abs(value)
        if magnitude >= 999.5 { return grouped(value) }
        if magnitude >= 99.95 { return String(format: "%.0f", value) }
        if magnitude >= 9.995 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// Whole number with thousands separators, locale-independent.
    static func grouped(_ value: Double) -> String {
        let rounded = Int64(value.rounded())
        let digits = String(abs(rounded))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return rounded < 0 ? "-" + out : out
    }

    /// Axis tick: "0", "50k", "1.5M", "0.5".
    static func compact(_ value: Double) -> String {
        let magnitude = abs(value)
        func trimmed(_ scaled: Double, _ suffix: String) -> String {
            var text = String(format: "%.1f", scaled)
            if text.hasSuffix(".0") { text.removeLast(2) }
            return text + suffix
        }
        if magnitude >= 1_000_000 { return trimmed(value / 1_000_000, "M") }
        if magnitude >= 1_000 { return trimmed(value / 1_000, "k") }
        if magnitude >= 1 || magnitude == 0 { return trimmed(value, "") }
        return String(format: "%g", value)
    }

    /// The exact value for a `data-value` attribute: Swift's shortest text that
    /// reads back as the same Double.
    static func exact(_ value: Double) -> String {
        "\(value)"
    }

    /// "64 B", "4 KiB", "1.5 MiB".
    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 && count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        if count >= 1 << 10 && count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
        return "\(count) B"
    }
}
