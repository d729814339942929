import Testing
@testable import NetpollTools

/// `RoundComparison`: the ratio is the median of per-round ratios with its range,
/// and a difference is a win or a loss only when the two servers' rounds do not
/// overlap — the rule that keeps one noisy run from reading as a verdict.
@Suite struct VerdictTests {
    @Test func ratioIsTheMedianOfPerRoundRatiosWithItsRange() throws {
        // Round by round: 1.1, 0.9, 1.0, 1.2, 0.95 → median 1.0, range 0.9–1.2.
        let c = try #require(RoundComparison(mine: [110, 90, 100, 120, 95], baseline: [100, 100, 100, 100, 100], better: .higher))
        #expect(c.ratio == 1.0)
        #expect(c.lowest == 0.9)
        #expect(c.highest == 1.2)
        #expect(c.rounds == 5)
        #expect(c.verdict == .withinNoise)
        #expect(c.text == "1.00× (0.90–1.20) within noise")
    }

    /// Pairing by round, not by sorted value: a slow phase of the machine that hits
    /// both servers in round 2 cancels out of that round's ratio.
    @Test func roundsArePairedByIndex() throws {
        let c = try #require(RoundComparison(mine: [88, 44, 88], baseline: [80, 40, 80], better: .higher))
        #expect(c.lowest == c.highest)
        #expect(abs(c.ratio - 1.1) < 1e-12)
    }

    @Test func disjointRoundsAreAWinOrALossDependingOnWhichWayIsBetter() throws {
        let faster: [Double?] = [120, 125, 118]
        let base: [Double?] = [100, 104, 99]
        #expect(RoundComparison(mine: faster, baseline: base, better: .higher)?.verdict == .win)
        #expect(RoundComparison(mine: base, baseline: faster, better: .higher)?.verdict == .loss)
        // CPU or memory: lower is better.
        #expect(RoundComparison(mine: faster, baseline: base, better: .lower)?.verdict == .loss)
        #expect(RoundComparison(mine: base, baseline: faster, better: .lower)?.verdict == .win)
    }

    /// The case of the issue: one round well behind, the others level. Every
    /// per-round ratio may sit on one side of 1, but the ranges overlap.
    @Test func overlappingRoundsAreWithinNoiseEvenWhenEveryRatioLeansOneWay() throws {
        let c = try #require(RoundComparison(mine: [80, 97, 99, 96, 98], baseline: [100, 99, 101, 98, 99], better: .higher))
        #expect(c.highest < 1)
        #expect(c.verdict == .withinNoise)
        // Touching is overlapping: equal edges are not a verdict.
        #expect(RoundComparison(mine: [100, 110, 120], baseline: [90, 95, 100], better: .higher)?.verdict == .withinNoise)
    }

    @Test func tooFewRoundsGiveNoVerdict() throws {
        let one = try #require(RoundComparison(mine: [200], baseline: [100], better: .higher))
        #expect(one.verdict == .tooFewRounds)
        #expect(one.text == "2.00× too few rounds")
        #expect(RoundComparison(mine: [200, 210], baseline: [100, 101], better: .higher)?.verdict == .tooFewRounds)
        #expect(RoundComparison.minimumRounds == 3)
    }

    /// A round in which either server gave no figure (a failed run) is left out of
    /// both sides, and the verdict counts only the rounds that remain.
    @Test func roundsMissingOnEitherSideAreLeftOut() throws {
        let c = try #require(RoundComparison(mine: [120, nil, 121, 122], baseline: [100, 100, nil, 101], better: .higher))
        #expect(c.rounds == 2)
        #expect(c.verdict == .tooFewRounds)
        #expect(RoundComparison(mine: [nil, nil], baseline: [1, 2], better: .higher) == nil)
        #expect(RoundComparison(mine: [1, 2], baseline: [0, 0], better: .higher) == nil)
    }

    /// Capped req/s (client saturated) follows the table's `RatioReading`: a
    /// capped row has no verdict; a capped baseline still shows a loss, never a win.
    @Test func clientBoundRequestRatesGiveNoWin() throws {
        let high: [Double?] = [120, 125, 118]
        let low: [Double?] = [100, 104, 99]
        #expect(RoundComparison(mine: high, baseline: low, better: .higher, mineCapped: true)?.verdict == .clientBound)
        #expect(RoundComparison(mine: low, baseline: high, better: .higher, mineCapped: true)?.verdict == .clientBound)
        #expect(RoundComparison(mine: low, baseline: high, better: .higher, baselineCapped: true)?.verdict == .loss)
        #expect(RoundComparison(mine: high, baseline: low, better: .higher, baselineCapped: true)?.verdict == .clientBound)
        #expect(RoundComparison(mine: high, baseline: high, better: .higher, baselineCapped: true)?.verdict == .clientBound)
    }
}
