import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Reads and writes through the toolchain's span types (Conn+Span.swift): the same
// bytes as the Unsafe* API, in order, into and out of caller memory with no pointer
// in the test's own code except where a type can only be made from one.

extension SerializedTests.NetTests {
    @Suite struct SpanIOTests {
        static let size = 200_000

        /// An echo server written with readSpan + write(RawSpan), a client writing a
        /// Span<UInt8> and reading into an array's MutableSpan: byte-exact, then end of
        /// stream seen by readSpan as an empty span.
        @Test(arguments: loopConfigs)
        func aSpanEchoIsByteExact(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let echoing = Task { () -> Int in
                    var total = 0
                    while try await server.readSpan(upTo: 4096, { bytes in
                        if bytes.isEmpty { return false }
                        #expect(bytes.byteCount <= 4096)
                        total += bytes.byteCount
                        try await server.write(bytes)
                        return true
                    }) {}
                    return total
                }
                let message = (0..<Self.size).map { patternByte(31, $0) }
                let writing = Task { try await client.write(message.span) }
                let reply = try await within(.seconds(20), "the echo") {
                    var inbox = [UInt8](repeating: 0, count: 7000)
                    var out: [UInt8] = []
                    while out.count < Self.size {
                        var span = inbox.mutableSpan
                        let n = try await client.read(into: &span)
                        if n == 0 { break }
                        out += inbox[..<n]
                    }
                    return out
                }
                try await writing.value
                #expect(reply.count == Self.size)
                #expect(reply == message, "the echo differs from what was sent")
                try client.closeWrite()
                let total = try await within(.seconds(5), "the server's end of stream") { try await echoing.value }
                #expect(total == Self.size)
                try await client.close()
                try await server.close()
            }
        }

        /// read(into: OutputSpan) appends after what is initialized, never past the
        /// capacity, and reads nothing into a full span; OutputRawSpan the same.
        @Test(arguments: loopConfigs)
        func outputSpansAppendUpToTheirCapacity(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let message = (0..<100).map { patternByte(5, $0) }
                try await client.write(message.span)
                let memory = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 64)
                defer { memory.deallocate() }
                memory.initialize(repeating: 0xEE)
                // Starts with 10 bytes initialized: what is read goes after them.
                var filled = 10
                while filled < 64 {
                    // The bytes are sent already: each read returns at once.
                    var o = OutputSpan<UInt8>(buffer: memory, initializedCount: filled)
                    let n = try await server.read(into: &o)
                    #expect(n > 0 && o.count == filled + n)
                    filled += n
                }
                var output = OutputSpan<UInt8>(buffer: memory, initializedCount: 64)
                #expect(try await server.read(into: &output) == 0, "a full span reads nothing")
                #expect(Array(memory[..<10]) == [UInt8](repeating: 0xEE, count: 10))
                #expect(Array(memory[10..<64]) == Array(message[..<54]))
                // The rest through an OutputRawSpan.
                let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 46, alignment: 1)
                defer { raw.deallocate() }
                var got = 0
                while got < 46 {
                    var o = OutputRawSpan(buffer: raw, initializedCount: got)
                    let n = try await server.read(into: &o)
                    #expect(n > 0 && o.byteCount == got + n)
                    got += n
                }
                #expect(Array(raw) == Array(message[54...]))
                try await client.close()
                try await server.close()
            }
        }

        /// read(appendingTo:) keeps what the array held, appends at most upTo bytes
        /// per read, in order, and answers 0 at end of stream.
        @Test(arguments: loopConfigs)
        func readsAppendToAnArray(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let (client, server) = try await tcpConnPair(group: group)
                let message = (0..<5000).map { patternByte(13, $0) }
                try await client.write(message.span)
                try client.closeWrite()
                let got = try await within(.seconds(5), "the appending reads") { () -> [UInt8] in
                    var pending: [UInt8] = [1, 2, 3]
                    while true {
                        let before = pending.count
                        let n = try await server.read(appendingTo: &pending, upTo: 700)
                        #expect(n <= 700 && pending.count == before + n)
                        if n == 0 { return pending }
                    }
                }
                #expect(got == [1, 2, 3] + message)
                try await client.close()
                try await server.close()
            }
        }

        /// A datagram written from a Span arrives whole in an array's MutableSpan.
        @Test(arguments: loopConfigs)
        func aDatagramThroughSpans(_ config: PollerConfig) async throws {
            try await withNetGroup(config) { group in
                let receiver = try await UDPConn.listen(host: "127.0.0.1", port: 0, group: group)
                let port = try #require(receiver.localAddress?.port)
                let sender = try await UDPConn.connect(host: "127.0.0.1", port: port, group: group)
                let message = (0..<512).map { patternByte(9, $0) }
                #expect(try await sender.write(message.span) == 512)
                let got = try await within(.seconds(5), "the datagram") { () -> [UInt8] in
                    var inbox = [UInt8](repeating: 0, count: 2048)
                    var span = inbox.mutableSpan
                    let r = try await receiver.readFrom(into: &span)
                    #expect(r.count == 512 && r.length == 512 && !r.isTruncated)
                    _ = consume span
                    return Array(inbox[..<r.count])
                }
                #expect(got == message)
                // And into a span that is too small: truncated, as the Unsafe* form reports.
                #expect(try await sender.write(message.span) == 512)
                var small = [UInt8](repeating: 0, count: 100)
                var smallSpan = small.mutableSpan
                let cut = try await receiver.readFrom(into: &smallSpan)
                #expect(cut.count == 100 && cut.length == 512 && cut.isTruncated)
                _ = consume smallSpan
                #expect(small == Array(message[..<100]))
                try await sender.close()
                try await receiver.close()
            }
        }
    }
}
