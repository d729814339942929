import Glibc

/// CPU time (user + system, all threads) this process has used, in µs.
/// The load client reports its own share so a saturated client is not mistaken
/// for a slow server.
public func processCPUMicros() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = UInt64(usage.ru_utime.tv_sec) * 1_000_000 + UInt64(usage.ru_utime.tv_usec)
    let system = UInt64(usage.ru_stime.tv_sec) * 1_000_000 + UInt64(usage.ru_stime.tv_usec)
    return user + system
}

/// Raises the soft descriptor limit to the hard one: idle-scale runs hold
/// thousands of sockets, and children (the servers) inherit the raised limit.
public func raiseDescriptorLimit() {
    var limit = rlimit()
    guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
}

// Glibc imports RLIMIT_NOFILE as an enum case of __rlimit_resource on Linux.
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
