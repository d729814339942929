import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

extension SerializedTests.PollerTests {
    /// io_uring's multishot polls can be ended by the kernel (a CQ overflow, a
    /// cancel); `poll` queues them again a budget at a time (half a CQ ring per turn).
    /// What must hold: the poller never sleeps while one is still unqueued, or the
    /// descriptor is watched by nothing until some other completion wakes the loop.
    /// This once hung a parked UDP reader for ever under scripts/test-faults.
    ///
    /// The mechanism exists only where polls are multishot: epoll registers once and
    /// one-shot POLL_ADD is armed by its waiter, so those configurations say so and
    /// return.
    @Suite struct RearmTests {
        static let pipes = 300

        @Test(arguments: PollerConfig.all)
        func pollsTheKernelEndedAreAllWatchedAgainBeforeTheNextSleep(config: PollerConfig) throws {
            guard config.backend.kind == .uring, !config.isOneShot else {
                print("not applicable: \(config.name): no multishot polls to end")
                return
            }
            guard config.canRunHere(descriptors: 2 * Self.pipes + 16) else { return }
            try withPoller(config, capacity: 16) { poller in
                let ring = try #require(poller as? URingPoller)
                var readers: [OwnedFD] = []
                var writers: [OwnedFD] = []
                defer {
                    for fd in readers { fd.close() }
                    for fd in writers { fd.close() }
                }
                // Pipes' read ends: never writable, so a re-armed poll on an empty one
                // completes nothing (a socket's would report POLLOUT at once and wake
                // the loop, hiding the bug).
                for _ in 0..<Self.pipes {
                    let p = try makePipe()
                    readers.append(OwnedFD(p.r))
                    writers.append(OwnedFD(p.w))
                }
                let tokens = (0..<Self.pipes).map { token(slot: UInt32($0) + 100) }
                for (r, t) in zip(readers, tokens) { try poller.register(fd: r.raw, token: t) }
                try drainEvents(poller)

                // The kernel ends every poll (as on overflow), and only the last
                // descriptor then gets data: it is re-armed in the last budget, after
                // turns whose re-arms find nothing ready.
                for t in tokens { try ring.cancel(t.rawValue, tag: URingPoller.cancelAsync) }
                try ring.submit()  // the kernel cancels polls as it takes the SQEs
                #expect(writeBytes(writers[Self.pipes - 1].raw, [1]) == 1)

                // Each poll may sleep 10 s; a sleep with a re-arm unqueued is one the
                // data cannot end, and shows as the deadline passing. Polling goes on
                // until every re-arm is queued (the data may come back first).
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(5)
                var seen = false
                var polls = 0
                while (!seen || !ring.rearms.isEmpty) && clock.now < deadline {
                    polls += 1
                    for e in try pollOnce(poller, timeout: .seconds(10)) where e.token == tokens[Self.pipes - 1] {
                        seen = seen || e.events.contains(.read)
                    }
                }
                #expect(seen, "\(config.name): the last descriptor's data was not reported within 5 s (\(polls) polls); re-arms not yet queued: \(ring.rearms.count)")
                let unqueued = ring.rearms.count
                #expect(unqueued == 0, "\(config.name): \(unqueued) re-arms never queued")
                for (r, t) in zip(readers, tokens) { try poller.deregister(fd: r.raw, token: t) }
            }
        }
    }
}
