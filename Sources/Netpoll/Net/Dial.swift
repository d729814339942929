#if canImport(Glibc)
import Glibc
#endif

/// Go's dialSerial: try each address in order, one overall deadline.
enum Dial {
    static func connect<C: Conn>(
        _ addresses: [SocketAddress], timeout: Duration?, group: LoopGroup?,
        adopt: (Int32, EventLoop) async throws -> C
    ) async throws -> C {
        let g = try group ?? LoopGroup.shared()
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var firstError: (any Error)?
        for address in addresses {
            if let deadline, deadline <= .now { throw NetpollError.deadlineExceeded }
            do {
                return try await connectOne(address, deadline: deadline, loop: g.current ?? g.next(), adopt: adopt)
            } catch let e as NetpollError {
                // A timeout ends the dial; a refusal moves on to the next address.
                if e.isTimeout { throw e }
                if firstError == nil { firstError = e }
            }
        }
        throw firstError ?? NetpollError.invalidAddress("no addresses to dial")
    }

    private static func connectOne<C: Conn>(
        _ address: SocketAddress, deadline: ContinuousClock.Instant?, loop: EventLoop,
        adopt: (Int32, EventLoop) async throws -> C
    ) async throws -> C {
        let sysfd = try Socket.stream(family: address.family)
        // Registered before connect(2): the completion is a write readiness edge.
        let conn = try await adopt(sysfd, loop)
        do {
            if let deadline { try conn.setWriteDeadline(deadline) }
            try await conn.fd.counted { try await conn.fd.connect(to: address.storage) }
            if deadline != nil { try conn.setWriteDeadline(nil) }
            loop.stats.connectionsDialed.wrappingAdd(1, ordering: .relaxed)
            return conn
        } catch {
            try? await conn.close()
            throw error
        }
    }
}
