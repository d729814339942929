import ArgumentParser
import Netpoll
import NetpollTools
#if canImport(Glibc)
import Glibc
#endif

/// `netpoll echo-server --file-size N`: answers each download request (see
/// `Download`) with bytes of a temporary file, by sendfile or by pread + write —
/// the two ways the bench's "file" scenario compares.
final class FileServer: Sendable {
    enum Method: String, Sendable, CaseIterable, ExpressibleByArgument {
        case sendfile
        case write
    }

    static let maxSize = 64 << 20
    static let sizeRange = 1...maxSize
    /// The buffer of the write method, per connection (Go's io.Copy uses 32 KiB;
    /// larger chunks mean fewer system calls, as sendfile's 4 MiB do).
    static let writeChunk = 256 << 10

    static let parseMethod: OptionRules.Parse<Method> = { text in
        guard let method = Method(rawValue: text) else {
            throw OptionRules.NotAllowed(description: "must be one of \(Method.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return method
    }

    let fd: Int32
    let size: Int
    let method: Method

    /// Creates the file in /tmp and unlinks its name at once: nothing is left
    /// behind, however the server ends.
    init(size: Int, method: Method) throws {
        var template = Array("/tmp/netpoll-file-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw NetpollError.system("mkstemp", errno) }
        unlink(String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
        let content = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { content.deallocate() }
        Download.fillFile(content)
        var done = 0
        while done < size {
            let n = pwrite(fd, content.baseAddress! + done, size - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = errno
                close(fd)
                throw NetpollError.system("pwrite", e)
            }
            done += n
        }
        self.fd = fd
        self.size = size
        self.method = method
    }

    deinit { close(fd) }

    /// Serves requests until the client closes; a malformed request closes the connection.
    func serve(_ conn: TCPConn) async throws {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: Download.requestSize, alignment: 8)
        defer { request.deallocate() }
        var buffer: UnsafeMutableRawBufferPointer?
        defer { buffer?.deallocate() }
        while true {
            var got = 0
            while got < Download.requestSize {
                let n = try await conn.read(into: UnsafeMutableRawBufferPointer(rebasing: request[got...]))
                if n == 0 { return }
                got += n
            }
            let count = Download.readRequest(UnsafeRawBufferPointer(request))
            guard count >= 1 && count <= size else { return }
            switch method {
            case .sendfile:
                let sent = try await conn.sendFile(fd, offset: 0, count: Int64(count))
                if sent != Int64(count) { return }
            case .write:
                let chunk = buffer ?? .allocate(byteCount: min(size, Self.writeChunk), alignment: 64)
                buffer = chunk
                var offset = 0
                while offset < count {
                    let n = pread(fd, chunk.baseAddress!, min(chunk.count, count - offset), off_t(offset))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw NetpollError.system("pread", n < 0 ? errno : EIO) }
                    try await conn.write(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                    offset += n
                }
            }
        }
    }
}
