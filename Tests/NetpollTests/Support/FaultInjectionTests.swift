#if FaultInjection
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

/// `NETPOLL_FAULTS` and the draws behind it (Support/FaultInjection.swift): a bad
/// value is refused with the setting's error, and a seed fixes each site's sequence,
/// so a failing run can be replayed. Pure functions: no descriptor, no environment.
@Suite struct FaultInjectionTests {
    @Test func aSeedAloneTakesTheDefaultRateAndKinds() throws {
        let c = try #require(try FaultInjection.parse("42"))
        #expect(c == FaultInjection.Config(seed: 42, rate: FaultInjection.Config.defaultRate, kinds: .standard))
        #expect(try FaultInjection.parse("") == nil)
    }

    @Test func rateKindsAndHexSeedsAreRead() throws {
        let c = try #require(try FaultInjection.parse("0xFF:0.25:eintr,short,ring-overflow"))
        #expect(c.seed == 255 && c.rate == 0.25 && c.kinds == [.eintr, .short, .ringOverflow])
        #expect(try FaultInjection.parse("7:1:all")?.kinds == .all)
        #expect(try FaultInjection.parse("7:0:default,econnreset")?.kinds == FaultInjection.Kinds.standard.union(.econnreset))
        // The line printed at start-up is a value that reproduces the run.
        for text in ["42", "0xFF:0.25:eintr,short,ring-overflow", "7:1:all", "7:0:default,econnreset", "3:0.5:enobufs"] {
            let c = try #require(try FaultInjection.parse(text))
            #expect(try FaultInjection.parse(c.description) == c, "\(text) → \(c)")
        }
    }

    @Test(arguments: [
        "x", "-1", "1.5", "18446744073709551616", "0x", "0xZZ", "1:", "1:x", "1:-0.1", "1:1.01", "1:nan", "1:inf",
        "1:0.1:", "1:0.1:bogus", "1:0.1:eintr,,short", "1:0.1:eintr:extra", ":0.1",
    ])
    func badValuesAreRefusedWithTheSettingsError(_ text: String) {
        #expect(throws: NetpollError.invalidSetting(name: "NETPOLL_FAULTS", value: text, allowed: FaultInjection.allowed)) {
            try FaultInjection.parse(text)
        }
    }

    /// Every site's first 10,000 faults under `config`: what each call would be told.
    static func sequence(_ config: FaultInjection.Config) -> [FaultInjection.Site: [Int32?]] {
        var out: [FaultInjection.Site: [Int32?]] = [:]
        for site in FaultInjection.Site.allCases {
            out[site] = (0..<10_000).map { i in
                let d = FaultInjection.draw(seed: config.seed, site: site, index: UInt64(i))
                let short = FaultInjection.shortCount(4096, draw: d, at: site, config)
                return FaultInjection.injectedErrno(draw: d, at: site, config) ?? (short < 4096 ? -Int32(short) : nil)
            }
        }
        return out
    }

    @Test func theSameSeedGivesTheSameFaults() throws {
        let a = try #require(try FaultInjection.parse("12345:0.05:all"))
        let first = Self.sequence(a)
        #expect(Self.sequence(a) == first)
        let other = try #require(try FaultInjection.parse("12346:0.05:all"))
        #expect(Self.sequence(other) != first)
        // Sites draw apart: the read site's sequence is not the write site's.
        let reads = (0..<100).map { FaultInjection.draw(seed: 1, site: .read, index: $0) }
        let writes = (0..<100).map { FaultInjection.draw(seed: 1, site: .write, index: $0) }
        #expect(reads != writes)
    }

    @Test func faultsComeAtTheRateAndOnlyOfTheKindsAsked() throws {
        let c = try #require(try FaultInjection.parse("99:0.1:eintr,eagain"))
        let reads = try #require(Self.sequence(c)[.read])
        let fired = reads.compactMap { $0 }
        // 10,000 draws at 0.1: 1,000 expected; 5 standard deviations either side.
        #expect((850...1150).contains(fired.count), "\(fired.count) faults in 10,000 draws at rate 0.1")
        #expect(Set(fired) == [EINTR, EAGAIN])
        #expect(Self.sequence(c)[.pollCQE]?.allSatisfy { $0 == nil } == true, "ring-ecanceled was not asked for")
        let none = try #require(try FaultInjection.parse("99:0"))
        #expect(Self.sequence(none).values.allSatisfy { $0.allSatisfy { $0 == nil } })
    }

    @Test func shortCountsMoveAtLeastOneByteAndFewerThanAsked() throws {
        let c = try #require(try FaultInjection.parse("5:1:short"))
        for i in 0..<1000 {
            let d = FaultInjection.draw(seed: c.seed, site: .write, index: UInt64(i))
            let n = FaultInjection.shortCount(100, draw: d, at: .write, c)
            #expect((1..<100).contains(n))
            #expect(FaultInjection.shortCount(1, draw: d, at: .write, c) == 1)
        }
    }
}
#endif
