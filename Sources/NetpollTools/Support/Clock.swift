import Glibc

/// Monotonic time in nanoseconds. Read through the vDSO, so it costs no
/// syscall: cheap enough to take twice per echoed message.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Seconds (as given on the command line) to nanoseconds, never negative.
public func nanos(seconds: Double) -> UInt64 {
    seconds <= 0 ? 0 : UInt64(seconds * 1e9)
}

/// Sleeps until the monotonic clock reaches `deadline` (ns); returns at once if past.
public func sleep(untilNanos deadline: UInt64) {
    while true {
        let now = monotonicNanos()
        if now >= deadline { return }
        let remaining = deadline - now
        var request = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        _ = nanosleep(&request, nil)
    }
}

/// `strerror` as a Swift string ("Connection refused").
public func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
