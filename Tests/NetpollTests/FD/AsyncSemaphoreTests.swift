import Synchronization
import Testing
@testable import Netpoll

// The semaphore behind FDMutex's lock waiters and Close: units are counted, and
// waiters are woken oldest first — across its inline first slot and the array
// behind it.

/// AsyncSemaphore is non-copyable and lives inline in its owner; the tests share
/// one between tasks through this box.
final class SemaphoreBox: Sendable {
    let s = AsyncSemaphore()
}

/// Records the order in which waiters were woken.
final class WakeOrder: Sendable {
    private let order = Mutex<[Int]>([])
    func append(_ i: Int) { order.withLock { $0.append(i) } }
    var value: [Int] { order.withLock { $0 } }
}

extension SerializedTests.FDTests {
    @Suite struct AsyncSemaphoreTests {
        @Test func aReleaseBeforeTheAcquireIsKept() async throws {
            let box = SemaphoreBox()
            box.s.release()
            box.s.release()
            try await within(.seconds(5), "two acquires of two released units") {
                await box.s.acquire()
                await box.s.acquire()
            }
            #expect(box.s.waiting == 0)
        }

        /// Waiters queue one at a time (each is known to wait before the next
        /// starts), then are released one at a time: they must wake in the order
        /// they came, whichever of them sat in the inline slot. A second round
        /// reuses the emptied queue.
        @Test(arguments: [1, 2, 5])
        func waitersWakeOldestFirst(count: Int) async throws {
            let box = SemaphoreBox()
            for round in 0..<2 {
                let woken = WakeOrder()
                var tasks: [Task<Void, Never>] = []
                for i in 0..<count {
                    tasks.append(Task {
                        await box.s.acquire()
                        woken.append(i)
                    })
                    try await waitUntil(within: .seconds(5), "waiter \(i) queued") { box.s.waiting == i + 1 }
                }
                for i in 0..<count {
                    box.s.release()
                    try await waitUntil(within: .seconds(5), "waiter \(i) woken") { woken.value.count == i + 1 }
                }
                for t in tasks { await t.value }
                #expect(woken.value == Array(0..<count), "round \(round): woken out of order")
                #expect(box.s.waiting == 0)
            }
        }
    }
}
