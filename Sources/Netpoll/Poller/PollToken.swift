/// The 64-bit value a registration carries and readiness comes back with (epoll's
/// `data.u64`, io_uring's `user_data`). Its layout lives here and nowhere else, as
/// SwiftNIO's `EPollUserData` keeps its own:
///
/// ```
///  63  62   61 ........... 32   31 ............ 0
/// [ op    ][ slot (30 bits)   ][ seq (32 bits)   ]
/// ```
///
/// - `slot`: the PollDesc's index in its loop's PollCache, below ``slotLimit``.
/// - `seq`: the slot's `fdseq` when the token was made; bumped when the slot is
///   freed, so late events and timers for a reused slot are recognised and dropped.
///   Never 0, so no real token is 0.
/// - `op` is always 0 in a token. The io_uring poller keeps several requests per
///   descriptor in flight and tells their completions apart by it: 0 the readiness
///   poll, 1 (`uringRecvBit`) the completion-mode RECV, 2 (`uringWriteBit`) a
///   one-shot write poll, 3 (both) the descriptor's CLOSE. Values whose high 32 bits
///   are all ones are the pollers' own (wake channel, cancels): see `reservedWake`;
///   the slot limit keeps `op` 3 with a real slot from ever reaching them.
public struct PollToken: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    /// Slots are below 2^30 − 1: bits 62–63 stay free for the io_uring poller's
    /// request kinds, and no slot reaches the reserved values.
    public static let slotLimit: UInt32 = (1 << 30) - 1

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
    /// The io_uring poller marks a descriptor's one-shot write poll with this bit,
    static let uringWriteBit = UInt64(1) << 63
    /// its completion-mode RECV with this one,
    static let uringRecvBit = UInt64(1) << 62
    /// and its CLOSE with both.
    static let uringCloseBits = uringWriteBit | uringRecvBit
    /// The io_uring poller's file-table answers: this value `|` a table slot, and
    /// `| 1 << 30` for a slot's CLOSE (URingPoller+FixedFiles.swift). Below every
    /// reserved value above.
    static let uringFileSlotBase = UInt64(0xFFFF_FFFF_0000_0000)
    /// The request-kind bits; a token has none of them.
    static let uringOpMask = uringCloseBits

    public var description: String { "token(\(slot):\(seq))" }
}
