/// The 64-bit value a registration carries and readiness comes back with (epoll's
/// `data.u64`, io_uring's `user_data`). Its layout lives here and nowhere else, as
/// SwiftNIO's `EPollUserData` keeps its own:
///
/// ```
///  63  62 ............ 32   31 ............ 0
/// [ 0 ][ slot (31 bits)   ][ seq (32 bits)   ]
/// ```
///
/// - `slot`: the PollDesc's index in its loop's PollCache, below ``slotLimit``.
/// - `seq`: the slot's `fdseq` when the token was made; bumped when the slot is
///   freed, so late events and timers for a reused slot are recognised and dropped.
///   Never 0, so no real token is 0.
/// - Bit 63 is always 0 in a token: the io_uring poller sets it in a one-shot
///   write poll's user_data (``URingPoller``), and values whose high 32 bits are all
///   ones are the pollers' own (wake channel, cancels): see ``reservedWake``.
public struct PollToken: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    /// Slots are below 2^31 − 1: bit 63 stays free and no slot reaches the
    /// reserved values.
    public static let slotLimit: UInt32 = (1 << 31) - 1

    public init(slot: UInt32, seq: UInt32) {
        precondition(slot < Self.slotLimit, "netpoll: poll token slot \(slot) out of range")
        rawValue = UInt64(slot) << 32 | UInt64(seq)
    }

    /// A token from its raw value, as pollers get it back from the kernel.
    public init(_ rawValue: UInt64) {
        precondition(rawValue >> 32 != 0xFFFF_FFFF, "netpoll: reserved poll token \(rawValue)")
        self.rawValue = rawValue
    }

    @inline(__always) public var slot: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
    @inline(__always) public var seq: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    /// Pollers' own user_data values; no token equals one of them.
    static let reservedWake = UInt64(0xFFFF_FFFF_FFFF_FFFE)
    /// The io_uring poller's cancels use this value and the one below it.
    static let reservedRemove = UInt64(0xFFFF_FFFF_FFFF_FFFD)
    /// io_uring one-shot mode marks a descriptor's write poll with this bit.
    static let uringWriteBit = UInt64(1) << 63

    public var description: String { "token(\(slot):\(seq))" }
}
