extension Duration {
    /// Whole nanoseconds, saturating; negative durations become 0.
    var saturatingNanoseconds: Int64 {
        let (s, atto) = components
        if s < 0 { return 0 }
        if s >= Int64.max / 1_000_000_000 { return Int64.max }
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
