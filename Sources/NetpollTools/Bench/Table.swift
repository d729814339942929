/// A plain text table: columns padded to their widest cell, numbers right-aligned.
struct Table {
    var header: [String]
    var rows: [[String]] = []
    /// Columns aligned right (figures); the others align left.
    var rightAligned: Set<Int> = []

    init(header: [String]) {
        self.header = header
    }

    mutating func add(_ row: [String]) {
        rows.append(row)
    }

    func rendered() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (index, cell) in cells.enumerated() {
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                // The last column (notes) is not padded: no trailing spaces.
                if index == cells.count - 1 && !rightAligned.contains(index) {
                    parts.append(cell)
                } else {
                    parts.append(rightAligned.contains(index) ? padding + cell : cell + padding)
                }
            }
            var text = parts.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        var lines = [line(header), String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}
