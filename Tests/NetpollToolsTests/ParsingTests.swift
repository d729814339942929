import Testing
@testable import NetpollTools

@Suite struct ParsingTests {
    @Test func targetsSplitIntoHostAndPort() throws {
        #expect(try Endpoint.splitHostPort("127.0.0.1:8080") == ("127.0.0.1", "8080"))
        #expect(try Endpoint.splitHostPort("[::1]:443") == ("::1", "443"))
        #expect(try Endpoint.splitHostPort("localhost:1") == ("localhost", "1"))
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", ":80", "[::1]80", "[::1:80", "host:0", "host:65536", "host:x"])
    func badTargetsAreRejected(_ text: String) {
        #expect(throws: LoadError.self) { try Endpoint.splitHostPort(text) }
    }

    @Test func endpointsResolveEveryFamily() throws {
        #expect(try Endpoint(parsing: "127.0.0.1:9").kind == .tcp)
        #expect(try Endpoint(parsing: "[::1]:9").family == AF_INET6_VALUE)
        #expect(try Endpoint(parsing: "unix:/tmp/x.sock").kind == .unix)
        #expect(throws: LoadError.self) { try Endpoint(parsing: "unix:") }
    }

    @Test func shellWordsFollowPosixQuoting() throws {
        #expect(try shellWords("peers/bin/uring_echo --oneshot") == ["peers/bin/uring_echo", "--oneshot"])
        #expect(try shellWords(#"a 'b c' "d \"e\"" f\ g"#) == ["a", "b c", #"d "e""#, "f g"])
        #expect(try shellWords("  ") == [])
        #expect(throws: ShellWordsError.self) { try shellWords("a 'b") }
    }

    @Test func listsAndScenariosParse() throws {
        #expect(try parseIntList("1,64, 512", flag: "--connections") == [1, 64, 512])
        #expect(throws: BenchError.self) { try parseIntList("1,x", flag: "--connections") }
        #expect(try parseScenarios("churn,echo,churn") == [.churn, .echo])
        #expect(throws: BenchError.self) { try parseScenarios("echo,bogus") }
    }

    @Test func loadOptionsAreValidated() {
        var options = LoadOptions(target: "127.0.0.1:1", connections: 1, size: 64, durationSeconds: 1)
        #expect(throws: Never.self) { try options.validate() }
        options.size = 0
        #expect(throws: LoadError.self) { try options.validate() }
        options.size = 64
        options.mode = .churn
        options.rate = 100
        #expect(throws: LoadError.self) { try options.validate() }
    }
}

import Glibc
private let AF_INET6_VALUE = AF_INET6
