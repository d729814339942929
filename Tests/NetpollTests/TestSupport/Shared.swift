import Synchronization

// Values that closures and tasks share (a local `Atomic` cannot be captured).

/// A flag set once by one task and read by another.
final class Flag: Sendable {
    private let storage = Atomic<Bool>(false)
    func set() { storage.store(true, ordering: .releasing) }
    var isSet: Bool { storage.load(ordering: .acquiring) }
}

/// A counter shared by tasks. `add` and `subtract` return the new value.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    @discardableResult
    func add(_ n: Int = 1) -> Int { storage.add(n, ordering: .acquiringAndReleasing).newValue }
    @discardableResult
    func subtract(_ n: Int = 1) -> Int { storage.subtract(n, ordering: .acquiringAndReleasing).newValue }
    var value: Int { storage.load(ordering: .acquiring) }
}
