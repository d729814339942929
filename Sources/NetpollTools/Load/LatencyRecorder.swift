import Histogram

/// Latencies of the measured window, in nanoseconds, one recorder per worker
/// thread (no sharing on the hot path), merged once at the end.
public struct LatencyRecorder: Sendable {
    /// 1 ns .. 100 s at 3 significant digits: a stalled server can't overflow it,
    /// and it is allocated once, before the run.
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    @inline(__always)
    mutating func record(nanos: UInt64) {
        // Values beyond the range are clamped rather than lost.
        _ = histogram.record(Swift.min(Swift.max(nanos, 1), histogram.highestTrackableValue))
    }

    mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
    }

    public var count: UInt64 { histogram.totalCount }

    /// Percentile in µs, or nil when nothing was recorded.
    public func micros(atPercentile percentile: Double) -> Double? {
        guard histogram.totalCount > 0 else { return nil }
        return Double(histogram.valueAtPercentile(percentile)) / 1000
    }
}
