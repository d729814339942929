/// One server against the baseline on one figure, over the interleaved rounds of
/// a cell: the median of the per-round ratios (each round's figure over the
/// baseline's in the same round, which cancels the machine's slow phases), their
/// range, and a verdict that calls a difference a win or a loss only when the two
/// servers' rounds do not overlap at all. A single short run of each server
/// moves by ±20% on this VM; a ratio printed without its spread reads as a
/// finding when it is noise.
public struct RoundComparison: Sendable, Equatable {
    /// Which way is better for the figure: requests/s up, CPU and memory down.
    public enum Better: Sendable {
        case higher
        case lower
    }

    public enum Verdict: String, Sendable {
        /// Every round of this server is better than every round of the baseline.
        case win
        /// Every round of this server is worse than every round of the baseline.
        case loss
        /// The rounds overlap: no difference this run can stand behind.
        case withinNoise = "within noise"
        /// req/s capped by the load client (see `LoadReport.clientSaturated`), so the
        /// rounds cannot tell a win or a loss (compare CPU per message instead).
        case clientBound = "client-bound"
        /// Fewer than `minimumRounds` rounds: a range of one or two runs says nothing.
        case tooFewRounds = "too few rounds"
    }

    /// Below this many paired rounds there is no verdict: with 2 rounds each, two
    /// equal servers' ranges part by chance one time in 3; with 3, one in 10.
    public static let minimumRounds = 3

    /// Median of the per-round ratios.
    public let ratio: Double
    public let lowest: Double
    public let highest: Double
    /// Rounds in which both servers gave the figure.
    public let rounds: Int
    public let verdict: Verdict

    /// `mine[i]` and `baseline[i]` are round i's figures (nil: that run gave none).
    /// `mineCapped`/`baselineCapped`: that side's figure was capped by the client in
    /// some round (req/s only). Nil when no round has both figures.
    public init?(mine: [Double?], baseline: [Double?], better: Better,
                 mineCapped: Bool = false, baselineCapped: Bool = false) {
        var pairs: [(mine: Double, base: Double)] = []
        for (a, b) in zip(mine, baseline) {
            if let a, let b, a.isFinite, b.isFinite, b > 0 { pairs.append((a, b)) }
        }
        guard let ratio = median(pairs.map { $0.mine / $0.base }) else { return nil }
        let ratios = pairs.map { $0.mine / $0.base }
        self.ratio = ratio
        self.lowest = ratios.min() ?? ratio
        self.highest = ratios.max() ?? ratio
        self.rounds = pairs.count
        self.verdict = Self.verdict(mine: pairs.map(\.mine), baseline: pairs.map(\.base), better: better,
                                    mineCapped: mineCapped, baselineCapped: baselineCapped)
    }

    static func verdict(mine: [Double], baseline: [Double], better: Better,
                        mineCapped: Bool, baselineCapped: Bool) -> Verdict {
        guard mine.count >= minimumRounds, let mineLow = mine.min(), let mineHigh = mine.max(),
              let baseLow = baseline.min(), let baseHigh = baseline.max() else { return .tooFewRounds }
        let above = mineLow > baseHigh
        let below = mineHigh < baseLow
        let parted: Verdict? = switch better {
        case .higher: above ? .win : (below ? .loss : nil)
        case .lower: below ? .win : (above ? .loss : nil)
        }
        // A capped req/s is a floor. As in the table's ratio (`RatioReading`): a
        // capped row says nothing; a capped baseline still shows a loss (it was
        // faster even held back), never a win.
        if mineCapped { return .clientBound }
        if baselineCapped { return parted == .loss ? .loss : .clientBound }
        return parted ?? .withinNoise
    }

    /// "0.98× (0.93–1.04) within noise".
    public var text: String {
        let range = rounds > 1 ? " (\(Self.format(lowest))–\(Self.format(highest)))" : ""
        return "\(Self.format(ratio))×\(range) \(verdict.rawValue)"
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
