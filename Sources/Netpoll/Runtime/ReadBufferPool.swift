#if canImport(Glibc)
import Glibc
#endif

/// Read buffers a borrowed read takes from its EventLoop for the length of the read
/// (``Conn/readBorrowed(upTo:_:)``), so a connection that waits for data holds no
/// buffer of its own (golang/go#15735 asks for the same in Go).
///
/// Why it matters beyond the bytes an idle connection pins: a per-connection buffer
/// is malloc'd and freed once per connection, and glibc keeps the pages a freed
/// chunk touched; over waves of connections the chunks land at new offsets and the
/// server's resident size grows toward the sum of all buffers. Buffers borrowed from a
/// small pool are the same few allocations over and over, so the pages they touch
/// are bounded by how many reads are in flight at once.
///
/// Owned by the loop thread: only that thread touches the free list, without a
/// lock. A borrow from another thread gets a fresh allocation, and a buffer given
/// back from another thread is freed — both correct, just not pooled.
final class ReadBufferPool {
    /// Size of every pooled buffer: the largest single read a borrowed read makes.
    static let bufferSize = 64 * 1024
    /// Free buffers kept for reuse; more than that in flight at once are freed when
    /// given back, so a burst does not pin memory for ever.
    static let maxRetained = 32

    // Unchecked: one thread, and no call out while it is being changed, so no
    // overlapping access can exist; the dynamic check cost two runtime calls per
    // message on the borrowed-read path (see docs/runtime-tricks.md#exclusivity).
    @exclusivity(unchecked) private var free: [UnsafeMutableRawPointer] = []

    init() {
        free.reserveCapacity(Self.maxRetained)
    }

    deinit {
        for p in free { p.deallocate() }
    }

    @inline(__always)
    func take(onLoopThread: Bool) -> UnsafeMutableRawPointer {
        if onLoopThread, let p = free.popLast() { return p }
        return UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
    }

    @inline(__always)
    func give(_ p: UnsafeMutableRawPointer, onLoopThread: Bool) {
        if onLoopThread && free.count < Self.maxRetained {
            free.append(p)
        } else {
            p.deallocate()
        }
    }
}
