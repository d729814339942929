import Netpoll
#if canImport(Glibc)
import Glibc
#endif

/// A TCP echo server: `EchoServer [PORT]` (default 7000; 0 picks a free port).
/// The backend comes from NETPOLL_BACKEND (epoll, uring, auto).
@main struct EchoServer {
    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 7000
        let listener = try await TCPListener.listen(host: "127.0.0.1", port: port)
        print("listening on \(listener.address!)")
        fflush(nil)  // a parent reading our stdout through a pipe sees the line now
        // One task per connection, on that connection's own event loop.
        try await listener.serve { conn in
            while true {
                // Borrow the loop's read buffer only while there are bytes to echo:
                // an idle connection holds no buffer. `bytes` is a RawSpan: it
                // cannot outlive the closure, and is written without a copy.
                let open = try await conn.readSpan { bytes in
                    if bytes.isEmpty { return false }  // end of stream
                    try await conn.write(bytes)
                    return true
                }
                if !open { return }  // serve closes the connection
            }
        }
    }
}
