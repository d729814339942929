import CNetpoll
#if canImport(Glibc)
import Glibc
#endif

// Fixed files (Feature.fixedFiles): every descriptor the ring works on also gets a
// slot of the ring's registered file table, and once the kernel has confirmed it,
// every SQE for the descriptor names the slot with IOSQE_FIXED_FILE: the kernel
// then skips the descriptor-table lookup and the file's reference count per
// request (fget/fput, two atomics on a threaded process). The descriptor itself
// stays an ordinary one: everything above the poller (sendfile, splice, socket
// options, adoption, close) keeps using it. The table's bookkeeping is
// URingFileTable; the slot's life is described there.
//
// Why Linux 6.13, though the operations exist since 6.0: before 6.13 a slot's file
// was let go only when every request issued before its removal — on any slot — had
// completed (one reference count per table generation). A loop's multishot RECVs
// and ACCEPTs live as long as their connections, so a closed connection's socket
// would stay open in the kernel, and its peer would never see FIN. 6.13 counts
// references per slot.
extension URingPoller {
    /// user_data of a slot's FILES_UPDATE answer (`| slot`): the pollers' own range
    /// (high 32 bits all ones), below the reserved values of PollToken.
    static let fileSlotBase = PollToken.uringFileSlotBase
    /// Marks the answer of a slot's CLOSE.
    static let fileSlotCloseBit = UInt64(1) << 30

    /// What SQEs for `reg` name: its slot once live, its descriptor until then.
    @inline(__always)
    func target(_ reg: URingRegistration) -> (fd: Int32, fixed: Bool) {
        reg.slotLive ? (reg.slot, true) : (reg.fd, false)
    }

    /// Gives registration `token` a table slot for `fd`, if the table is in use and
    /// has one: queues the slot's FILES_UPDATE. A full table is no error: the
    /// descriptor is used as it is.
    func attachSlot(fd: Int32, token: UInt64) throws(NetpollError) {
        guard fileTable != nil else { return }
        guard let slot = fileTable!.claim(fd: fd, token: token) else {
            counters.fileTableMisses &+= 1
            return
        }
        table.update(token) { $0.slot = slot }
        let value = fileTable!.values + Int(slot)
        while !cnp_ring_prep_files_update(ring, value, UInt32(slot), Self.fileSlotBase | UInt64(slot)) {
            try submit()
        }
    }

    /// Empties `reg`'s slot (after its cancels are queued, so they still find its
    /// requests by slot); its CLOSE goes with the next enter.
    func detachSlot(_ reg: URingRegistration) throws(NetpollError) {
        guard reg.slot >= 0 else { return }
        fileTable!.release(slot: reg.slot)
        while !cnp_ring_prep_close_slot(ring, UInt32(reg.slot), Self.fileSlotBase | Self.fileSlotCloseBit | UInt64(reg.slot)) {
            try submit()
        }
    }

    /// A slot's FILES_UPDATE answered, or its CLOSE failed (a CLOSE that succeeds
    /// posts nothing).
    func fileSlotAnswered(_ c: cnp_cqe) {
        let slot = Int32(truncatingIfNeeded: c.user_data & (Self.fileSlotCloseBit - 1))
        if c.user_data & Self.fileSlotCloseBit != 0 {
            // -EBADF: the slot's update had been refused, or never issued before the
            // close; the slot is empty either way.
            return
        }
        guard let owner = fileTable?.added(slot: slot, ok: c.res >= 0) else { return }
        if c.res >= 0 {
            table.update(owner) { if $0.slot == slot { $0.slotLive = true } }
        } else {
            counters.fileTableMisses &+= 1
            table.update(owner) { if $0.slot == slot { $0.slot = -1 } }
        }
    }

    /// Table slots owned or waiting for the kernel's answer (tests: none may leak).
    var fileSlotsInUse: Int { fileTable?.inUse ?? 0 }
}
