// The byte-level rules that the head, the chunked body and its trailers share.

let cr = UInt8(ascii: "\r")
let lf = UInt8(ascii: "\n")

/// One `name ":" OWS value OWS` line (RFC 9112 §5), header or trailer.
struct FieldLine {
    var name: ArraySlice<UInt8>
    var value: ArraySlice<UInt8>

    /// Nil for a line without a colon, a name that is not a token (which refuses a
    /// space before the colon and a folded continuation line, whose first byte is a
    /// blank), or a value with a control character: a bare CR or LF left inside the
    /// line by the line splitter is refused here, so it cannot start a header of
    /// its own in a server or proxy that splits lines more leniently.
    init?(_ line: ArraySlice<UInt8>) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        name = line[..<colon]
        guard name.isToken else { return nil }
        value = line[(colon + 1)...].trimmingBlanks()
        guard !value.contains(where: \.isControl) else { return nil }
    }
}

extension ArraySlice<UInt8> {
    /// RFC 9110 §5.6.2: one or more of the characters a method or header name may use.
    var isToken: Bool {
        !isEmpty && allSatisfy { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
        }
    }

    /// Without leading and trailing spaces and tabs (RFC 9110's OWS).
    func trimmingBlanks() -> ArraySlice<UInt8> {
        let blank = { (c: UInt8) in c == 0x20 || c == 0x09 }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    func equalsIgnoringCase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            // Only letters fold: `| 0x20` alone would also match CR (0x0D) with "-".
            zip(self, expected).allSatisfy { c, e in (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) ? c | 0x20 == e : c == e }
        }
    }

    /// The comma-separated elements of a list-valued field (RFC 9110 §5.6.1),
    /// trimmed, empty ones dropped as the RFC allows.
    func listElements() -> [ArraySlice<UInt8>] {
        split(separator: UInt8(ascii: ",")).map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
    }

    /// The index of the first CRLF, if one has arrived.
    func firstCRLF() -> Int? {
        var i = startIndex
        while let r = self[i...].firstIndex(of: cr) {
            guard r + 1 < endIndex else { return nil }
            if self[r + 1] == lf { return r }
            i = r + 1
        }
        return nil
    }
}

extension UInt8 {
    /// A control character other than tab (RFC 9110 §5.5 allows HTAB in a value):
    /// refused in field values and chunk extensions, where a bare CR or LF would
    /// otherwise pass.
    var isControl: Bool { (self < 0x20 && self != 0x09) || self == 0x7F }
}

extension Int {
    /// A Content-Length: digits only, no sign, no overflow.
    init?(decimal digits: ArraySlice<UInt8>) {
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        self = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
