import Netpoll
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A line-based chat server: `ChatServer [PORT]` (default 7001; 0 picks a free port).
///
/// Each connection is told its name (`you are user N`); every line it sends goes to
/// every other connection as `user N: line`. Several connections' tasks write to the
/// same receiver at once: each line is one `write`, and a connection's writes are
/// serialised (its FDMutex write lock), so lines never interleave mid-line.
@main struct ChatServer {
    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 7001
        let listener = try await TCPListener.listen(host: "127.0.0.1", port: port)
        print("listening on \(listener.address!)")
        fflush(nil)  // a parent reading our stdout through a pipe sees the line now
        let room = Room()
        try await listener.serve { conn in
            let name = room.join(conn)
            defer { room.leave(name) }
            try await conn.write(Array("you are \(name)\n".utf8))
            var pending: [UInt8] = []
            while true {
                if try await conn.read(appendingTo: &pending) == 0 { return }  // end of stream
                // Every complete line, in order; a partial one waits for the rest.
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[..<newline]
                    await room.broadcast(Array("\(name): ".utf8) + line + [UInt8(ascii: "\n")], from: name)
                    pending.removeSubrange(...newline)
                }
            }
        }
    }
}

/// Who is connected. The lock is held only to read or change the table, never
/// across a write.
final class Room: Sendable {
    private let members = Mutex<(next: Int, conns: [String: TCPConn])>((1, [:]))

    func join(_ conn: TCPConn) -> String {
        members.withLock { m in
            let name = "user \(m.next)"
            m.next += 1
            m.conns[name] = conn
            return name
        }
    }

    func leave(_ name: String) {
        _ = members.withLock { $0.conns.removeValue(forKey: name) }
    }

    /// Sends `line` to everyone but `sender`, to all of them at once. A receiver that
    /// cannot take a line within 5 s (it stopped reading) is dropped, so it holds up
    /// this sender for no longer than that.
    func broadcast(_ line: [UInt8], from sender: String) async {
        let receivers = members.withLock { $0.conns.filter { $0.key != sender } }
        await withTaskGroup(of: Void.self) { group in
            for (_, conn) in receivers {
                group.addTask {
                    do {
                        // Concurrent writers share the deadline; whoever sets it last
                        // sets it for all of them, which is as good for this purpose.
                        try conn.setWriteDeadline(.now + .seconds(5))
                        try await conn.write(line)
                    } catch {
                        // Gone or stalled: end its reads, so its own task returns and
                        // `serve` closes it.
                        try? conn.closeRead()
                    }
                }
            }
        }
    }
}
