import Testing
@testable import NetpollTools

@Suite struct EchoPatternTests {
    private func pattern(connection: UInt32, sequence: UInt64, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { EchoPattern.fill($0, connection: connection, sequence: sequence) }
        return bytes
    }

    @Test func patternIsDeterministic() {
        #expect(pattern(connection: 3, sequence: 7, size: 64) == pattern(connection: 3, sequence: 7, size: 64))
    }

    @Test func everyMessageOfEveryConnectionDiffers() {
        var seen = Set<[UInt8]>()
        for connection: UInt32 in 0..<16 {
            for sequence: UInt64 in 1...64 {
                #expect(seen.insert(pattern(connection: connection, sequence: sequence, size: 16)).inserted)
            }
        }
    }

    @Test(arguments: [1, 7, 8, 9, 63, 4096])
    func oddSizesAreFilledToTheLastByte(_ size: Int) {
        let a = pattern(connection: 1, sequence: 1, size: size)
        let b = pattern(connection: 1, sequence: 2, size: size)
        #expect(a.count == size)
        #expect(a.last != b.last || a.suffix(8) != b.suffix(8))
    }
}
