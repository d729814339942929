// The echo itself, written as a FlyingSocks user would: an AsyncSocket accept
// loop with one task per connection, on FlyingSocks' own epoll SocketPool.
import FlyingSocks

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum EchoServer {
    /// A listening socket on a loopback address; the caller prints the port it got.
    static func listen(host: String, port: UInt16) throws -> (socket: Socket, port: UInt16) {
        let socket: Socket
        if host.contains(":") {
            socket = try Socket(domain: AF_INET6, type: .stream)
            try socket.setValue(true, for: .localAddressReuse)
            try socket.bind(to: .inet6(ip6: host, port: port))
        } else {
            socket = try Socket(domain: AF_INET, type: .stream)
            try socket.setValue(true, for: .localAddressReuse)
            try socket.bind(to: .inet(ip4: host, port: port))
        }
        // The C peers' backlog: the idle scenario opens thousands of connections at once.
        try socket.listen(maxPendingConnection: 4096)
        switch try socket.sockname() {
        case .ip4(_, let bound), .ip6(_, let bound):
            return (socket, bound)
        case .unix:
            throw SocketError.unsupportedAddress
        }
    }

    /// Runs the pool and the accept loop until either fails; neither ends on its own.
    static func serve(_ listener: Socket) async throws {
        // What FlyingFox's HTTPServer takes by default on Linux (HTTPServer.defaultPool()).
        let pool: SocketPool<ePoll> = .ePoll()
        try await pool.prepare()
        let listening = try AsyncSocket(socket: listener, pool: pool)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            group.addTask { try await acceptLoop(listening) }
            try await group.next()
        }
    }

    private static func acceptLoop(_ listener: AsyncSocket) async throws {
        // Discarding: finished connections leave nothing behind, as in FlyingFox's
        // HTTPServer. The children never throw, so one connection cannot end the group.
        try await withThrowingDiscardingTaskGroup { group in
            for try await connection in listener.sockets {
                group.addTask { await echo(connection) }
            }
        }
    }

    /// Writes back what each read returns until the client closes or resets.
    private static func echo(_ connection: AsyncSocket) async {
        defer { try? connection.close() }
        // Go sets TCP_NODELAY on every accepted socket; so do the other peers.
        try? connection.socket.setValue(true, for: BoolSocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY))
        do {
            while true {
                // At most 4 KiB per read (FlyingSocks' own cap), returned as a new array.
                let chunk = try await connection.read(atMost: 4096)
                // AsyncSocket writes Data only; the copy is part of what the API costs.
                try await connection.write(Data(chunk))
            }
        } catch {
            // SocketError.disconnected at EOF or on a reset: the connection just ends.
        }
    }
}
