import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// `wake()` (Go's netpollBreak) and poll timeouts.
    @Suite struct WakeAndTimeoutTests {
        @Test(arguments: PollerConfig.all)
        func wakeFromAnotherThreadEndsALongPoll(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try drainEvents(poller)
                let waker = onNewThread {
                    usleep(50_000)
                    poller.wake()
                }
                defer { waker.join() }
                let clock = ContinuousClock()
                let start = clock.now
                let events = try pollOnce(poller, timeout: .seconds(10))
                let took = clock.now - start
                #expect(events.isEmpty, "a wake is not an event: \(events)")
                #expect(took < .milliseconds(900), "\(config.name): poll(10 s) took \(took) after a wake at 50 ms")
            }
        }

        /// An untimed poll with nothing ready returns only for its wake: the contract's
        /// "nil waits until an event or wake()". (io_uring's batched wait, min-wait,
        /// ends an untimed wait when its minimum runs out unless given a timeout of
        /// its own: a loop woken every 50 µs for nothing.)
        @Test(arguments: PollerConfig.all)
        func anUntimedPollWaitsForItsWake(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try drainEvents(poller)
                let waker = onNewThread {
                    usleep(200_000)
                    poller.wake()
                }
                defer { waker.join() }
                let clock = ContinuousClock()
                let start = clock.now
                var events = try pollOnce(poller, timeout: nil)
                // A poller may return early with nothing (a spurious return is allowed
                // once); it must not keep doing so.
                if events.isEmpty && clock.now - start < .milliseconds(150) { events = try pollOnce(poller, timeout: nil) }
                let took = clock.now - start
                #expect(events.isEmpty, "a wake is not an event: \(events)")
                #expect(took >= .milliseconds(150), "\(config.name): an untimed poll returned after \(took), before its wake at 200 ms")
            }
        }

        @Test(arguments: PollerConfig.all)
        func aBurstOfWakesCoalescesIntoOne(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try drainEvents(poller)
                let waker = onNewThread {
                    for _ in 0..<1_000 { poller.wake() }
                }
                waker.join()
                let clock = ContinuousClock()
                let start = clock.now
                _ = try pollOnce(poller, timeout: .seconds(5))
                let first = clock.now - start
                #expect(first < .milliseconds(900), "\(config.name): the woken poll took \(first)")

                try expectFullTimedWait(poller, .milliseconds(50), config.name)
            }
        }

        /// Not before the timeout, not much after; see ``expectFullTimedWait``.
        @Test(arguments: PollerConfig.all)
        func aTimedPollWithNothingReadyWaitsItsTimeout(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try drainEvents(poller)
                try expectFullTimedWait(poller, .milliseconds(50), config.name)
            }
        }

        @Test(arguments: PollerConfig.all)
        func aZeroTimeoutPollNeverBlocks(config: PollerConfig) throws {
            try withPoller(config) { poller in
                try drainEvents(poller)
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<100 { _ = try pollOnce(poller, timeout: .zero) }
                let took = clock.now - start
                #expect(took < .milliseconds(500), "\(config.name): 100 × poll(.zero) took \(took)")
            }
        }
    }
}

/// A `poll(timeout:)` with nothing ready returns no events, not before `timeout`
/// (1 ms of slack for the clock domain: ContinuousClock and the kernel's timer clock
/// may disagree by a few ppm) and well within 2 s.
///
/// A timed wait interrupted by EINTR returns early with no events, as Go's netpoll
/// does ("return to recalculate how long we should sleep"), and here that really
/// happens: io_uring task work from rings closed earlier on this thread
/// (TIF_NOTIFY_SIGNAL) interrupts the next wait. Such a return is recognised by the
/// poller having made no syscall but its wait (a consumed wake also drains the
/// eventfd) and retried, at most twice; an early return that consumed a wake fails.
func expectFullTimedWait(
    _ poller: any Poller, _ timeout: Duration, _ name: String,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let clock = ContinuousClock()
    var attempts: [Duration] = []
    for _ in 0..<3 {
        let syscalls = poller.counters.syscalls
        let start = clock.now
        let events = try pollOnce(poller, timeout: timeout)
        let took = clock.now - start
        let made = poller.counters.syscalls - syscalls
        attempts.append(took)
        #expect(events.isEmpty, "\(name): \(events)", sourceLocation: sourceLocation)
        #expect(took < .seconds(2), "\(name): poll(\(timeout)) took \(took)", sourceLocation: sourceLocation)
        if took >= timeout - .milliseconds(1) { return }
        if made != 1 {
            Issue.record("\(name): poll(\(timeout)) returned after \(took) having made \(made) syscalls (a leftover wake?)", sourceLocation: sourceLocation)
            return
        }
        print("\(name): poll(\(timeout)) returned early after \(took) with only its wait made (EINTR); retrying")
    }
    Issue.record("\(name): every poll(\(timeout)) returned early: \(attempts)", sourceLocation: sourceLocation)
}
