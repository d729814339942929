/// The download protocol of `netpoll load --download` and `netpoll echo-server
/// --file-size` (the bench's "file" scenario): the client sends an 8-byte request,
/// the byte count it wants as a little-endian UInt64; the server answers with that
/// many bytes of its file from offset 0, and the client checks every byte against
/// the same pattern. Kept here, beside the client, so the server (in the CLI) and
/// the client cannot disagree on it.
public enum Download {
    public static let requestSize = 8

    /// The file's bytes: one fixed pattern stream, so every prefix is the same.
    public static func fillFile(_ buffer: UnsafeMutableRawBufferPointer) {
        EchoPattern.fill(buffer, connection: 0xF11E, sequence: 0)
    }

    /// The request for `count` bytes.
    public static func writeRequest(_ count: Int, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: UInt64(count).littleEndian, toByteOffset: 0, as: UInt64.self)
    }

    /// The byte count of a request.
    public static func readRequest(_ buffer: UnsafeRawBufferPointer) -> Int {
        Int(truncatingIfNeeded: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
    }
}
