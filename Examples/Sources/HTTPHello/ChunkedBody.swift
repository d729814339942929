import HTTPTypes

/// A `Transfer-Encoding: chunked` body (RFC 9112 §7.1) read and dropped as its
/// bytes arrive: chunk sizes in hex, chunk extensions skipped, the trailer
/// section's fields checked and dropped.
///
/// Only whole lines are taken from the buffer; chunk data is taken as it comes, so
/// a large chunk never has to sit in memory.
public struct ChunkedBody: Sendable {
    public enum Progress: Equatable, Sendable {
        /// Everything offered was taken or is an unfinished line: read more.
        case needsMore
        /// The body ended; the next request starts where `offset` now points.
        case done
        /// 400 for a malformed body, 413 past `maxBody`, 431 for a trailer section
        /// past `maxTrailers`: answer and close.
        case failed(HTTPResponse.Status)
    }

    private enum State {
        case size
        case data(left: Int)
        case dataEnd  // the CRLF after a chunk's data
        case trailers
    }

    /// The most body bytes (chunk data, not framing) the request may carry.
    public let maxBody: Int
    /// The most bytes of trailer section (the head's limit in the server).
    public let maxTrailers: Int
    /// A chunk-size line longer than this is refused (400) rather than buffered:
    /// extensions are for nothing here, and a line without end would grow forever.
    public static let maxSizeLine = 4096

    private var state = State.size
    private var total = 0
    private var trailerBytes = 0

    public init(maxBody: Int, maxTrailers: Int) {
        self.maxBody = maxBody
        self.maxTrailers = maxTrailers
    }

    /// Takes what it can of `bytes[offset...]`, moving `offset` past it.
    public mutating func consume(_ bytes: [UInt8], at offset: inout Int) -> Progress {
        while true {
            switch state {
            case .size:
                guard let crlf = bytes[offset...].firstCRLF() else {
                    return bytes.count - offset > Self.maxSizeLine ? .failed(.badRequest) : .needsMore
                }
                guard crlf - offset <= Self.maxSizeLine, let size = Self.chunkSize(bytes[offset..<crlf]) else {
                    return .failed(.badRequest)
                }
                offset = crlf + 2
                // Refused on the size line, before its data is read: a client that sent
                // the head and that line alone still gets its 413 on a quiet socket.
                guard size <= maxBody - total else { return .failed(.contentTooLarge) }
                total += size
                state = size == 0 ? .trailers : .data(left: size)
            case .data(let left):
                let n = min(left, bytes.count - offset)
                offset += n
                guard n == left else {
                    state = .data(left: left - n)
                    return .needsMore
                }
                state = .dataEnd
            case .dataEnd:
                guard bytes.count - offset >= 2 else { return .needsMore }
                guard bytes[offset] == cr && bytes[offset + 1] == lf else { return .failed(.badRequest) }
                offset += 2
                state = .size
            case .trailers:
                guard let crlf = bytes[offset...].firstCRLF() else {
                    return trailerBytes + bytes.count - offset > maxTrailers ? .failed(.requestHeaderFieldsTooLarge) : .needsMore
                }
                trailerBytes += crlf + 2 - offset
                guard trailerBytes <= maxTrailers else { return .failed(.requestHeaderFieldsTooLarge) }
                let line = bytes[offset..<crlf]
                offset = crlf + 2
                if line.isEmpty { return .done }
                // Trailer fields are dropped, but only well-formed ones: a bare CR or LF
                // inside one is the same injection as in the head.
                guard FieldLine(line) != nil else { return .failed(.badRequest) }
            }
        }
    }

    /// `1*HEXDIG [ BWS ";" ext ]`: the size, or nil for no digits, a non-hex digit
    /// (a sign, "0x"), more digits than an Int holds, or a control byte (a bare CR
    /// or LF) in the extensions.
    static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        let digits = line.prefix(while: { $0.hexValue != nil })
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        let rest = line[digits.endIndex...].trimmingBlanks()
        guard rest.isEmpty || (rest.first == UInt8(ascii: ";") && !rest.contains(where: \.isControl))
        else { return nil }
        return digits.reduce(0) { $0 << 4 | Int($1.hexValue!) }
    }
}

extension UInt8 {
    fileprivate var hexValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
