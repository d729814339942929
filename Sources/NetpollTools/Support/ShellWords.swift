/// Splits a command line the way a POSIX shell would split words: whitespace
/// separates, single quotes are literal, double quotes allow \" and \\, a
/// backslash escapes the next character. No expansion of any kind.
public func shellWords(_ line: String) throws(ShellWordsError) -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var iterator = line.makeIterator()
    while let character = iterator.next() {
        switch character {
        case " ", "\t", "\n":
            if inWord { words.append(current); current = ""; inWord = false }
        case "'":
            inWord = true
            while true {
                guard let next = iterator.next() else { throw .unterminatedQuote(line) }
                if next == "'" { break }
                current.append(next)
            }
        case "\"":
            inWord = true
            while true {
                guard let next = iterator.next() else { throw .unterminatedQuote(line) }
                if next == "\"" { break }
                if next == "\\" {
                    guard let escaped = iterator.next() else { throw .unterminatedQuote(line) }
                    if escaped != "\"" && escaped != "\\" && escaped != "$" && escaped != "`" { current.append("\\") }
                    current.append(escaped)
                } else {
                    current.append(next)
                }
            }
        case "\\":
            inWord = true
            if let escaped = iterator.next() { current.append(escaped) }
        default:
            inWord = true
            current.append(character)
        }
    }
    if inWord { words.append(current) }
    return words
}

public enum ShellWordsError: Error, CustomStringConvertible {
    case unterminatedQuote(String)
    public var description: String {
        switch self { case .unterminatedQuote(let line): "unterminated quote in: \(line)" }
    }
}
