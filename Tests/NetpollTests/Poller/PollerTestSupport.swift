import CNetpoll
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the Poller suites: the list of poller configurations every test
// runs over, a poller factory, event expectations that report the caller's line, and
// threads of their own.

// MARK: configurations

/// One way to build a poller. Every configuration appears as a test argument, even
/// one this machine cannot use: the test then prints "skipped: why" and returns (see
/// ``canRunHere(descriptors:)``), and
/// ``SerializedTests/PollerTests/BackendSelectionTests/everyBackendIsUsableHere()``
/// fails if io_uring vanished without an external reason (sysctl, seccomp).
struct PollerConfig: Sendable, CustomTestStringConvertible {
    let name: String
    let backend: Backend
    let availability: Backend.Availability

    var testDescription: String { name }

    /// One-shot POLL_ADD: each direction is reported once per
    /// ``Poller/arm(token:events:)`` (registration arms both).
    var isOneShot: Bool { backend.kind == .uring && backend.uring.mode == .oneshot }

    /// A poller for this configuration, created on (and to be used only on) the calling
    /// thread. `capacity` bounds the epoll event array or the ring's SQ entries.
    func makePoller(capacity: Int? = nil) throws -> any Poller {
        var b = backend
        if let capacity {
            b.epoll.eventCapacity = capacity
            b.uring.entries = UInt32(capacity)
        }
        return try b.makePoller()
    }

    /// Whether a test can run on this configuration here, with room for `descriptors`
    /// more open descriptors (RLIMIT_NOFILE's soft limit is raised toward the hard one
    /// for them). If not, it prints "skipped: name: why" — the test says why it did not
    /// run instead of passing silently — and returns false.
    func canRunHere(descriptors: Int = 0) -> Bool {
        if case .unusable(let reason) = availability {
            print("skipped: \(name): \(reason)")
            return false
        }
        if descriptors > 0 && !ensureDescriptorLimit(descriptors) {
            print("skipped: \(name): RLIMIT_NOFILE hard limit too low for \(descriptors) more descriptors")
            return false
        }
        return true
    }

    static let all: [PollerConfig] = {
        let uring: [(String, URingPoller.Options)] = [
            ("uring-multishot-defer", .init(mode: .multishot, setup: .deferTaskrun)),
            ("uring-multishot-coop", .init(mode: .multishot, setup: .coopTaskrun)),
            ("uring-multishot-plain", .init(mode: .multishot, setup: .plain)),
            ("uring-oneshot-defer", .init(mode: .oneshot, setup: .deferTaskrun)),
            ("uring-oneshot-plain", .init(mode: .oneshot, setup: .plain)),
            ("uring-completion-defer", .init(mode: .completion, setup: .deferTaskrun)),
            // Every optional feature off: the paths a kernel without them takes.
            ("uring-completion-nofeatures", .init(mode: .completion, setup: .deferTaskrun, features: .exactly([]))),
            // Every optional feature on, also those `auto` leaves off.
            ("uring-multishot-allfeatures", .init(mode: .multishot, setup: .deferTaskrun, features: .exactly(Set(URingPoller.Feature.allCases)))),
            ("uring-completion-allfeatures", .init(mode: .completion, setup: .deferTaskrun, features: .exactly(Set(URingPoller.Feature.allCases)))),
        ]
        var list = [PollerConfig(name: "epoll", backend: .epoll, availability: Backend.probe(.epoll))]
        for (name, options) in uring {
            let backend = Backend.uring(options)
            list.append(PollerConfig(name: name, backend: backend, availability: Backend.probe(backend)))
        }
        return list
    }()
}

/// Runs `body` with a fresh poller unless the configuration is unusable here, in which
/// case it says so ("skipped: why") instead of passing silently. The poller is closed
/// afterwards and the descriptor count must be unchanged.
func withPoller(
    _ config: PollerConfig, capacity: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (any Poller) throws -> Void
) throws {
    guard config.canRunHere() else { return }
    try withNoFDLeak(sourceLocation: sourceLocation) {
        let poller = try config.makePoller(capacity: capacity)
        defer { poller.close() }
        try body(poller)
    }
}

// MARK: events

struct Event: Sendable, CustomStringConvertible {
    let token: PollToken
    let events: PollEvents
    var description: String { "\(token)\(events)" }
}

/// One `poll`, its events as an array.
func pollOnce(_ poller: any Poller, timeout: Duration?) throws -> [Event] {
    var out: [Event] = []
    let n = try poller.poll(timeout: timeout) { token, events in out.append(Event(token: token, events: events)) }
    #expect(n == out.count, "poll's count must equal the events delivered")
    return out
}

/// Everything already pending (a few non-blocking polls, until one comes back empty).
@discardableResult
func drainEvents(_ poller: any Poller, rounds: Int = 16) throws -> [Event] {
    var all: [Event] = []
    for _ in 0..<rounds {
        let got = try pollOnce(poller, timeout: .milliseconds(1))
        if got.isEmpty { break }
        all += got
    }
    return all
}

/// Polls until `token` has been reported with every bit of `wanted` (accumulated over
/// events), or `within` passes; records an issue at the caller's line on timeout.
/// Returns the union of the token's events seen.
@discardableResult
func expectEvents(
    _ poller: any Poller, token: PollToken, contains wanted: PollEvents,
    within: Duration = .seconds(1), sourceLocation: SourceLocation = #_sourceLocation
) throws -> PollEvents {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    var seen = PollEvents()
    while true {
        let left = deadline - clock.now
        if left <= .zero { break }
        for e in try pollOnce(poller, timeout: min(left, .milliseconds(20))) where e.token == token {
            seen.formUnion(e.events)
        }
        if seen.isSuperset(of: wanted) { return seen }
    }
    Issue.record("\(token) not reported with \(wanted) within \(within); saw \(seen)", sourceLocation: sourceLocation)
    return seen
}

/// Polls for `duration` and records an issue at the caller's line if `token` is
/// reported with any bit of `matching`.
func expectNoEvents(
    _ poller: any Poller, token: PollToken, matching: PollEvents = [.read, .write, .hangup, .error],
    for duration: Duration = .milliseconds(200), sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let clock = ContinuousClock()
    let deadline = clock.now + duration
    while true {
        let left = deadline - clock.now
        if left <= .zero { return }
        for e in try pollOnce(poller, timeout: left) where e.token == token && !e.events.isDisjoint(with: matching) {
            Issue.record("\(token) reported \(e.events) but nothing matching \(matching) was expected", sourceLocation: sourceLocation)
            return
        }
    }
}

/// A token as the runtime makes them: PollCache slot (high 32 bits) and seq (low).
func token(slot: UInt32, seq: UInt32 = 1) -> PollToken {
    PollToken(slot: slot, seq: seq)
}

// MARK: threads

/// Runs `body` on a new pthread and joins it. Used where the thread itself matters
/// (a per-thread seccomp filter, a wake from "another thread").
func onNewThread(_ body: @escaping () -> Void) -> JoinableThread {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
        b.body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create: \(rc)")
    return JoinableThread(tid: tid)
}

final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

struct JoinableThread {
    let tid: pthread_t
    func join() { pthread_join(tid, nil) }
}

/// A value written by one thread and read by another after `join()`.
final class Handoff<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
