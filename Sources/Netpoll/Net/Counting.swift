/// The Net layer counts what its connections do on their loop's statistics
/// (``LoopStats``: connections, reads, writes, bytes, errors by kind). The FD layer
/// below counts only system calls: a read or write here is one caller-visible
/// operation, however many syscalls and waits it took.
extension FD {
    /// Runs an operation on this descriptor, counting a failure by kind
    /// (``LoopStats/ErrorKind``) on its loop.
    @inline(__always)  // see docs/runtime-tricks.md#inlined-async
    func counted<R>(_ operation: () async throws -> R) async throws -> R {
        do {
            return try await operation()
        } catch {
            loop.stats.noteError(error)
            throw error
        }
    }
}
