import Testing
@testable import Netpoll

// Go: net/ipsock_test.go TestSplitHostPort / TestJoinHostPort and
// net/unixsock_test.go address handling — numeric forms only (no lookups here).

extension SerializedTests.NetTests {
    @Suite struct AddressTests {
        @Test func ipv4HostAndPort() throws {
            let a = try SocketAddress(parsing: "127.0.0.1:80")
            #expect(a.kind == .ipv4(0x7F00_0001, port: 80))
            #expect(a.host == "127.0.0.1")
            #expect(a.port == 80)
            #expect(a.description == "127.0.0.1:80")
            #expect(a.family == AF_INET_VALUE)
        }

        @Test func bracketedIPv6HostAndPort() throws {
            let a = try SocketAddress(parsing: "[::1]:8080")
            guard case .ipv6(let bytes, let port, let scope) = a.kind else {
                Issue.record("not IPv6: \(a)")
                return
            }
            #expect(bytes == [UInt8](repeating: 0, count: 15) + [1])
            #expect(port == 8080)
            #expect(scope == 0)
            #expect(a.host == "::1")
            #expect(a.description == "[::1]:8080")
            // The description parses back to the same address.
            #expect(try SocketAddress(parsing: a.description) == a)
        }

        @Test func unixPath() throws {
            let a = try SocketAddress(parsing: "unix:/tmp/x")
            #expect(a.kind == .unix("/tmp/x"))
            #expect(a.port == nil)
            #expect(a.description == "unix:/tmp/x")
        }

        @Test(arguments: [
            ("nonsense", "port"),
            ("1.2.3.4:99999", "99999"),
            (":x", "port"),
            ("1.2.3.4:", "port"),
            ("example.invalid:80", "example.invalid"),
            ("::1:80", "::1"),
            ("unix:", "path"),
        ])
        func malformedAddressesAreInvalidAddressErrors(_ text: String, _ mentions: String) {
            do {
                let a = try SocketAddress(parsing: text)
                Issue.record("\"\(text)\" parsed as \(a)")
            } catch {
                guard case .invalidAddress(let why) = error else {
                    Issue.record("\"\(text)\": \(error), expected .invalidAddress")
                    return
                }
                #expect(why.contains(mentions), "message for \"\(text)\" should mention \"\(mentions)\": \(error)")
                #expect(error.description.hasPrefix("invalid address:"))
            }
        }

        @Test func portRangeIsChecked() {
            #expect(throws: NetpollError.self) { try SocketAddress(ip: "127.0.0.1", port: -1) }
            #expect(throws: NetpollError.self) { try SocketAddress(ip: "127.0.0.1", port: 65536) }
            #expect(throws: Never.self) { try SocketAddress(ip: "127.0.0.1", port: 65535) }
        }
    }
}

/// AF_INET as the Int32 SocketAddress.family uses, without importing Glibc here.
private let AF_INET_VALUE: Int32 = 2
