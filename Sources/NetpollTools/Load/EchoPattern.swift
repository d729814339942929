/// The bytes of one message: a splitmix64 stream seeded by the connection's
/// index and the message's sequence number. Every message of every connection
/// differs, so an echo that returns another connection's bytes (misrouted) or
/// an earlier message's (stale buffer) fails verification.
public enum EchoPattern {
    /// Fills `buffer` with the pattern of message `sequence` on `connection`.
    /// 8 bytes per step: for 64-byte messages this is 8 multiplications.
    @inline(__always)
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer, connection: UInt32, sequence: UInt64) {
        var state = (UInt64(connection) &<< 40) ^ sequence ^ 0x9E37_79B9_7F4A_7C15
        var offset = 0
        let count = buffer.count
        while offset + 8 <= count {
            buffer.storeBytes(of: next(&state), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        if offset < count {
            var tail = next(&state)
            while offset < count {
                buffer[offset] = UInt8(truncatingIfNeeded: tail)
                tail >>= 8
                offset += 1
            }
        }
    }

    @inline(__always)
    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z &>> 31)
    }
}
