import Foundation

/// Latency percentiles on a log axis: per cell, one line per server from p50 to
/// p99.9 with a mark at each percentile (● p50, ◆ p99, ○ p99.9). A log axis
/// because the tail of a loaded server sits a decade or more past its median.
struct LatencyChart {
    struct Row {
        var series: Int
        var p50: Double?
        var p99: Double?
        var p999: Double?
        /// Instead of marks when the row has no percentiles.
        var missing: String
        /// "epoll · 64 conns · 64 B": prefixes each mark's tooltip.
        var tooltip: String
    }

    struct Group {
        var label: String
        var rows: [Row]
    }

    static let percentiles = ["p50", "p99", "p99.9"]

    var title: String
    var series: [String]
    var groups: [Group]
    var width = 560.0

    static let rowHeight = 15.0
    static let groupGap = 10.0

    func svg() -> String {
        let n = ChartStyle.n
        let rows = groups.flatMap(\.rows)
        let values = rows.flatMap { [$0.p50, $0.p99, $0.p999] }.compactMap { $0 }.filter { $0.isFinite && $0 > 0 }
        let axis = LogAxis(minimum: values.min() ?? 1, maximum: values.max() ?? 10)
        let labelWidth = min(170, max(70, (groups.map { ChartStyle.textWidth($0.label) }.max() ?? 0) + 12))
        let valueTexts = rows.map { row in row.p50 == nil && row.p99 == nil && row.p999 == nil ? row.missing : Self.valueText(row) }
        let valueRoom = min(170, max(90, (valueTexts.map(ChartStyle.textWidth).max() ?? 0) + 10))
        let plotLeft = labelWidth
        let plotWidth = max(80, width - labelWidth - valueRoom)

        let legend = ChartStyle.legend(series, width: width, y: 0)
        var marksKey = "<g class=\"marks-key\" transform=\"translate(0,\(n(legend.height + 2)))\">"
        var keyX = 0.0
        for (index, name) in Self.percentiles.enumerated() {
            marksKey += Self.mark(index, x: keyX + 5, y: 7, color: "#555", attributes: "") + "<text x=\"\(n(keyX + 13))\" y=\"11\">\(name)</text>"
            keyX += 58
        }
        marksKey += "<text x=\"\(n(width - 4))\" y=\"11\" text-anchor=\"end\">p50 / p99 / p99.9 µs</text></g>"
        let plotTop = legend.height + 26

        var body = ""
        var y = plotTop
        for group in groups {
            let groupHeight = Double(group.rows.count) * Self.rowHeight
            let label = escapeMarkup(group.label)
            body += "<g class=\"group\" data-group=\"\(label)\">"
            body += "<text class=\"group-label\" x=\"\(n(labelWidth - 8))\" y=\"\(n(y + groupHeight / 2 + 4))\" text-anchor=\"end\">\(label)</text>"
            for row in group.rows {
                let center = y + Self.rowHeight / 2
                let color = ChartStyle.color(row.series)
                let common = "data-series=\"\(escapeMarkup(series[row.series]))\" data-group=\"\(label)\""
                let points = [row.p50, row.p99, row.p999].map { value in value.flatMap { $0.isFinite && $0 > 0 ? $0 : nil } }
                let xs = points.map { $0.map { plotLeft + axis.fraction($0) * plotWidth } }
                let present = xs.compactMap { $0 }
                if let first = present.min(), let last = present.max() {
                    body += "<line class=\"spread\" x1=\"\(n(first))\" y1=\"\(n(center))\" x2=\"\(n(last))\" y2=\"\(n(center))\" stroke=\"\(color)\" stroke-width=\"2\" stroke-opacity=\"0.45\"/>"
                    for (index, value) in points.enumerated() {
                        guard let value, let x = xs[index] else { continue }
                        let name = Self.percentiles[index]
                        let attributes = "class=\"point\" \(common) data-percentile=\"\(name)\" data-value=\"\(Figure.exact(value))\""
                        let title = "<title>\(escapeMarkup("\(row.tooltip): \(name) \(Figure.text(value)) µs"))</title>"
                        body += Self.mark(index, x: x, y: center, color: color, attributes: attributes, title: title)
                    }
                    body += "<text class=\"value\" \(common) x=\"\(n(plotLeft + plotWidth + 8))\" y=\"\(n(center + 4))\">\(escapeMarkup(Self.valueText(row)))</text>"
                } else {
                    body += "<text class=\"missing\" \(common) x=\"\(n(plotLeft + 4))\" y=\"\(n(center + 4))\">\(escapeMarkup(row.missing))"
                        + "<title>\(escapeMarkup("\(row.tooltip): \(row.missing)"))</title></text>"
                }
                y += Self.rowHeight
            }
            body += "</g>"
            y += Self.groupGap
        }
        let plotBottom = y - Self.groupGap + 4
        var grid = "<g class=\"axis\">"
        for tick in axis.ticks {
            let x = plotLeft + axis.fraction(tick) * plotWidth
            grid += "<line x1=\"\(n(x))\" y1=\"\(n(plotTop - 2))\" x2=\"\(n(x))\" y2=\"\(n(plotBottom))\"/>"
            grid += "<text x=\"\(n(x))\" y=\"\(n(plotBottom + 13))\" text-anchor=\"middle\">\(Figure.compact(tick))</text>"
        }
        grid += "<text x=\"\(n(plotLeft + plotWidth))\" y=\"\(n(plotBottom + 26))\" text-anchor=\"end\">µs (log scale)</text></g>"
        let height = plotBottom + 32
        return "<svg class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\">"
            + "<title>\(escapeMarkup(title))</title>" + legend.svg + marksKey + grid + body + "</svg>"
    }

    static func valueText(_ row: Row) -> String {
        [row.p50, row.p99, row.p999].map { $0.map(Figure.text) ?? "-" }.joined(separator: " / ")
    }

    /// ● p50, ◆ p99, ○ p99.9, centred on (x, y).
    static func mark(_ percentile: Int, x: Double, y: Double, color: String, attributes: String, title: String = "") -> String {
        let n = ChartStyle.n
        switch percentile {
        case 0:
            return "<circle \(attributes) cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"3.5\" fill=\"\(color)\">\(title)</circle>"
        case 1:
            let points = [(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)].map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
            return "<polygon \(attributes) points=\"\(points)\" fill=\"\(color)\">\(title)</polygon>"
        default:
            return "<circle \(attributes) cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"3.5\" fill=\"#fff\" stroke=\"\(color)\" stroke-width=\"1.6\">\(title)</circle>"
        }
    }
}
