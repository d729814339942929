import Foundation

/// What every chart of the report shares: series colours, the legend, text sizes.
/// Charts are drawn by hand into SVG text (no scripts, no fonts, nothing fetched
/// at view time) so the report is one file that opens anywhere, offline.
enum ChartStyle {
    /// Tableau's ten, in the order the plan lists its servers; beyond ten they
    /// repeat, and every mark still carries its series name.
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static func color(_ series: Int) -> String { palette[series % palette.count] }

    static let fontSize = 11.0
    /// Average advance of the report's sans-serif at `fontSize`: enough to lay
    /// out legends and label columns without measuring text.
    static let charWidth = 6.4

    static func textWidth(_ text: String) -> Double { Double(text.count) * charWidth }

    /// One line per row of legend items, wrapped at `width`; returns the markup
    /// and the height it takes.
    static func legend(_ names: [String], width: Double, y top: Double) -> (svg: String, height: Double) {
        var svg = "<g class=\"legend\">"
        var x = 0.0
        var y = top
        let lineHeight = 16.0
        for (index, name) in names.enumerated() {
            let itemWidth = 14 + textWidth(name) + 14
            if x > 0 && x + itemWidth > width {
                x = 0
                y += lineHeight
            }
            svg += "<rect class=\"swatch\" x=\"\(n(x))\" y=\"\(n(y + 2))\" width=\"10\" height=\"10\" fill=\"\(color(index))\"/>"
            svg += "<text x=\"\(n(x + 14))\" y=\"\(n(y + 11))\">\(escapeMarkup(name))</text>"
            x += itemWidth
        }
        svg += "</g>"
        return (svg, y + lineHeight - top)
    }

    /// Coordinates with at most two decimals: smaller files, same picture.
    static func n(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}

/// A linear axis from 0 to a round number above the largest value.
struct LinearAxis {
    let ticks: [Double]
    var top: Double { ticks.last ?? 1 }

    init(maximum: Double, tickCount: Int = 4) {
        guard maximum > 0, maximum.isFinite else {
            ticks = [0, 1]
            return
        }
        let raw = maximum / Double(tickCount)
        let power = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= raw * (1 - 1e-9) } ?? 10 * power
        let count = Int((maximum / step).rounded(.up))
        ticks = (0...max(count, 1)).map { Double($0) * step }
    }

    /// 0...1 along the axis.
    func fraction(_ value: Double) -> Double { max(0, min(1, value / top)) }
}

/// A log axis for latencies, whose tails run a decade or more past the median.
struct LogAxis {
    let low: Double
    let high: Double
    let ticks: [Double]

    init(minimum: Double, maximum: Double) {
        let steps = [1.0, 2, 5]
        func below(_ value: Double) -> Double {
            let power = pow(10, floor(log10(value)))
            return steps.map { $0 * power }.last { $0 <= value * (1 + 1e-9) } ?? power
        }
        func above(_ value: Double) -> Double {
            let power = pow(10, floor(log10(value)))
            return (steps + [10]).map { $0 * power }.first { $0 >= value * (1 - 1e-9) } ?? 10 * power
        }
        let lowValue = minimum > 0 && minimum.isFinite ? minimum : 1
        let highValue = maximum > lowValue && maximum.isFinite ? maximum : lowValue * 2
        low = below(lowValue)
        var top = above(highValue)
        if top <= low { top = above(low * 1.01) }
        high = top
        // 1-2-5 ticks unless the range spans so many decades that they would crowd.
        let decades = log10(high / low)
        let multiples = decades > 2.5 ? [1.0] : steps
        var ticks: [Double] = []
        var power = pow(10, floor(log10(low)))
        while power <= high * (1 + 1e-9) {
            for multiple in multiples {
                let tick = multiple * power
                if tick >= low * (1 - 1e-9) && tick <= high * (1 + 1e-9) { ticks.append(tick) }
            }
            power *= 10
        }
        self.ticks = ticks
    }

    func fraction(_ value: Double) -> Double {
        guard value > 0 else { return 0 }
        return max(0, min(1, log10(value / low) / log10(high / low)))
    }
}

/// Horizontal bars, one group per bench cell and one bar per server in it. Each
/// bar carries its figure as `data-value` (exact) and in its `<title>`, so the
/// picture can be checked against the run, and read with a mouse.
struct BarChart {
    struct Bar {
        var series: Int
        var value: Double?
        /// Beside the bar's end: the figure.
        var label: String
        /// After the figure, in grey: the ratio to the baseline ("1.07x", "≈0.98x").
        var ratio: String?
        /// Instead of a bar when there is no value: "failed", "n/a".
        var missing: String
        /// The whole story for a hover.
        var tooltip: String
        /// The load client was saturated: this figure is a floor, drawn faded.
        var faded = false

        /// What the label takes on screen, to leave it room.
        var labelText: String { value == nil ? missing : label + (ratio.map { "  " + $0 } ?? "") }
    }

    struct Group {
        var label: String
        var bars: [Bar]
    }

    var title: String
    var series: [String]
    var groups: [Group]
    var width = 560.0

    static let barHeight = 13.0
    static let barGap = 2.0
    static let groupGap = 10.0

    func svg() -> String {
        let labelWidth = min(170, max(70, (groups.map { ChartStyle.textWidth($0.label) }.max() ?? 0) + 12))
        let labelRoom = min(150, max(60, (groups.flatMap(\.bars).map { ChartStyle.textWidth($0.labelText) }.max() ?? 0) + 10))
        let plotLeft = labelWidth
        let plotWidth = max(80, width - labelWidth - labelRoom)
        let axis = LinearAxis(maximum: groups.flatMap(\.bars).compactMap(\.value).filter(\.isFinite).max() ?? 0)
        let n = ChartStyle.n

        let legend = ChartStyle.legend(series, width: width, y: 0)
        let plotTop = legend.height + 8
        var body = ""
        var y = plotTop
        for group in groups {
            let groupHeight = Double(group.bars.count) * (Self.barHeight + Self.barGap) - Self.barGap
            let label = escapeMarkup(group.label)
            body += "<g class=\"group\" data-group=\"\(label)\">"
            body += "<text class=\"group-label\" x=\"\(n(labelWidth - 8))\" y=\"\(n(y + groupHeight / 2 + 4))\" text-anchor=\"end\">\(label)</text>"
            for bar in group.bars {
                let seriesName = escapeMarkup(series[bar.series])
                let common = "data-series=\"\(seriesName)\" data-group=\"\(label)\""
                let tooltip = "<title>\(escapeMarkup(bar.tooltip))</title>"
                if let value = bar.value, value.isFinite {
                    let length = axis.fraction(value) * plotWidth
                    let color = ChartStyle.color(bar.series)
                    let faded = bar.faded ? " fill-opacity=\"0.4\" stroke=\"\(color)\" stroke-dasharray=\"3 2\" data-client-saturated=\"true\"" : ""
                    body += "<rect class=\"bar\" \(common) data-value=\"\(Figure.exact(value))\" x=\"\(n(plotLeft))\" y=\"\(n(y))\" "
                        + "width=\"\(n(length))\" height=\"\(n(Self.barHeight))\" fill=\"\(color)\"\(faded)>\(tooltip)</rect>"
                    body += "<text class=\"value\" \(common) x=\"\(n(plotLeft + length + 4))\" y=\"\(n(y + Self.barHeight - 3))\">\(escapeMarkup(bar.label))"
                        + (bar.ratio.map { "<tspan class=\"ratio\" dx=\"6\">\(escapeMarkup($0))</tspan>" } ?? "") + "</text>"
                } else {
                    body += "<text class=\"missing\" \(common) x=\"\(n(plotLeft + 4))\" y=\"\(n(y + Self.barHeight - 3))\">\(escapeMarkup(bar.missing))\(tooltip)</text>"
                }
                y += Self.barHeight + Self.barGap
            }
            body += "</g>"
            y += Self.groupGap - Self.barGap
        }
        let plotBottom = y - Self.groupGap + 4
        var grid = "<g class=\"axis\">"
        for tick in axis.ticks {
            let x = plotLeft + axis.fraction(tick) * plotWidth
            grid += "<line x1=\"\(n(x))\" y1=\"\(n(plotTop - 2))\" x2=\"\(n(x))\" y2=\"\(n(plotBottom))\"/>"
            grid += "<text x=\"\(n(x))\" y=\"\(n(plotBottom + 13))\" text-anchor=\"middle\">\(Figure.compact(tick))</text>"
        }
        grid += "</g>"
        let height = plotBottom + 18
        return "<svg class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\">"
            + "<title>\(escapeMarkup(title))</title>" + legend.svg + grid + body + "</svg>"
    }
}
