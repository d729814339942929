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

    /// The library's `SocketAddress(parsing:)` rules (Go's SplitHostPort), written
    /// again in NetpollTools: issue 8 found `--target ::1:80` accepted.
    @Test(arguments: ["127.0.0.1:80", "[::1]:80", "localhost:80", "[127.0.0.1]:80", "unix:/tmp/x.sock"])
    func targetsTheLibraryAcceptsAreAccepted(_ text: String) {
        #expect(throws: Never.self) { try Endpoint.checkSyntax(text) }
    }

    @Test(arguments: [
        ("::1:80", "an IPv6 address must be in brackets"),
        ("1::2:80", "an IPv6 address must be in brackets"),
        (":80", "the host is missing"),
        ("[]:80", "the host is missing"),
        ("host:70000", "the port must be a whole number from 1 to 65535"),
        ("host:-1", "the port must be a whole number from 1 to 65535"),
        ("", "must be HOST:PORT"),
        ("a]b:80", "brackets must enclose the whole host"),
        ("unix:", "unix:PATH needs a path of 1 to 107 bytes"),
    ])
    func targetsTheLibraryRejectsAreRejectedNamingTheOption(_ text: String, _ why: String) {
        do throws(LoadError) {
            try Endpoint.checkSyntax(text)
            Issue.record("\(text.debugDescription) was accepted")
        } catch {
            guard case .invalidOption(let name, let value, let allowed) = error else {
                Issue.record("expected .invalidOption, got \(error)")
                return
            }
            #expect(name == "--target" && value == text)
            #expect(allowed.contains(why), "\(allowed)")
            #expect(error.description.hasPrefix("invalid --target \(text.debugDescription): "), "\(error)")
        }
        #expect(throws: LoadError.self) { try Endpoint(parsing: text) }
    }

    @Test func aBracketedHostMustBeNumeric() {
        #expect(throws: LoadError.self) { try Endpoint(parsing: "[localhost]:80") }
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

    /// Each option's rule names the option, the value and what is allowed; the
    /// CLI parses with the same rules.
    @Test func loadOptionRulesNameTheOptionTheValueAndTheRange() throws {
        var options = LoadOptions(target: "127.0.0.1:1", connections: 1, size: 0, durationSeconds: 1)
        #expect(throws: LoadError.invalidOption(name: "--size", value: "0", allowed: "must be a whole number from 1 to 67108864")) {
            try options.validate()
        }
        options.size = 64
        options.connections = 0
        #expect(throws: LoadError.self) { try options.validate() }
        options.idleConnections = 10
        #expect(throws: Never.self) { try options.validate() }
        options.durationSeconds = .infinity
        #expect(throws: LoadError.self) { try options.validate() }
        options.durationSeconds = 1
        options.connectTimeoutSeconds = 0
        #expect(throws: LoadError.self) { try options.validate() }

        #expect(try LoadOptions.threadsRule.parse("4", option: "--threads") == 4)
        for bad in ["0", "257", "x", "", "4.5"] {
            #expect(throws: LoadError.invalidOption(name: "--threads", value: bad, allowed: "must be a whole number from 1 to 256")) {
                try LoadOptions.threadsRule.parse(bad, option: "--threads")
            }
        }
        #expect(try LoadOptions.warmupRule.parse("0", option: "--warmup") == 0)
        for bad in ["-1", "nan", "inf", "604801"] {
            #expect(throws: LoadError.invalidOption(name: "--warmup", value: bad, allowed: "must be a number of seconds from 0 to 604800")) {
                try LoadOptions.warmupRule.parse(bad, option: "--warmup")
            }
        }
        #expect(throws: LoadError.self) { try LoadOptions.durationRule.parse("0", option: "--duration") }
    }
}

import Glibc
private let AF_INET6_VALUE = AF_INET6
