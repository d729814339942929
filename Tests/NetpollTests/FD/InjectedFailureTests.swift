#if FaultInjection
import Testing
@testable import Netpoll
#if canImport(Glibc)
import Glibc
#endif

// The failing kinds of fault injection (ECONNRESET on reads, ENOBUFS on writes) are
// not in the default run, where every test checks every byte. Here they are forced
// on (FaultInjection.overriding) for a while: each must reach its caller as that
// errno, promptly, and leave the loop able to serve the next connection.
extension SerializedTests.FDTests {
    @Suite struct InjectedFailureTests {
        @Test(arguments: loopConfigs)
        func injectedResetsAndNoBufferErrorsReachTheCallerAndLeaveTheLoopWorking(_ config: PollerConfig) async throws {
            guard config.canRunHere() else { return }
            let failing = FaultInjection.Config(seed: 27, rate: 0.2, kinds: [.econnreset, .enobufs])
            try await withNetGroup(config) { group in
                var resets = 0
                var noBuffers = 0
                try await FaultInjection.overriding(failing) {
                    for i in 0..<20 {
                        let (client, server) = try await tcpConnPair(group: group)
                        do {
                            try await within(.seconds(5), "connection \(i): round trips until a failure") {
                                for round in 0..<50 {
                                    let msg = [UInt8(i), UInt8(round), 7]
                                    try await client.write(msg)
                                    let got = try await SerializedTests.FDTests.ShortReadWakeupTests.readShort(server, count: 3)
                                    #expect(got == msg, "connection \(i), round \(round)")
                                }
                            }
                        } catch let e as NetpollError where e.errno == ECONNRESET {
                            resets += 1
                        } catch let e as NetpollError where e.errno == ENOBUFS {
                            noBuffers += 1
                        }
                        try await within(.seconds(5), "connection \(i): close") {
                            try await client.close()
                            try await server.close()
                        }
                    }
                }
                // Completion mode reads through the ring, where a read(2) is rarer.
                #expect(noBuffers > 0, "no write failed with ENOBUFS")
                #expect(resets > 0 || config.isCompletion, "no read failed with ECONNRESET")
                // Nothing left broken: with the override gone, a connection round-trips.
                let (client, server) = try await tcpConnPair(group: group)
                try await client.write([9, 9, 9])
                let got = try await within(.seconds(5), "read after injection") {
                    try await SerializedTests.FDTests.ShortReadWakeupTests.readShort(server, count: 3)
                }
                #expect(got == [9, 9, 9])
                try await client.close()
                try await server.close()
            }
        }
    }
}
#endif
