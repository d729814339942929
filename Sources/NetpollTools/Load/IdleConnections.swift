import Glibc

/// The idle-scale scenario's connections: opened in batches, each proven live
/// with one small verified echo (so the server has done its per-connection
/// work — accept, register, first read — before its memory is sampled), then
/// held without traffic until the run ends.
final class IdleConnections {
    private(set) var descriptors: [Int32] = []
    private(set) var counters = LoadCounters()
    private let endpoint: Endpoint

    /// Connects in flight at once: enough to be quick, few enough not to overflow
    /// a server's accept backlog (dropped SYNs retry only after a second).
    private let batch = 128
    /// Small on purpose: the scenario measures per-connection cost, not buffers.
    private let messageSize = 16

    init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }

    deinit {
        for fd in descriptors { close(fd) }
    }

    /// Opens `count` connections, `timeoutNanos` per batch at most.
    func open(count: Int, firstIndex: Int, timeoutNanos: UInt64) {
        descriptors.reserveCapacity(count)
        var opened = 0
        var sendBuffer = [UInt8](repeating: 0, count: messageSize)
        var recvBuffer = [UInt8](repeating: 0, count: messageSize)
        while opened < count {
            let thisBatch = min(batch, count - opened)
            var fds: [Int32] = []
            for _ in 0..<thisBatch {
                switch SocketOps.startConnect(to: endpoint) {
                case .connected(let fd), .inProgress(let fd): fds.append(fd)
                case .failed(let code): fail(.connect, code: code)
                }
            }
            opened += thisBatch
            let deadline = monotonicNanos() + timeoutNanos
            fds = waitConnected(fds, deadline: deadline)
            for (offset, fd) in fds.enumerated() {
                let index = UInt32(truncatingIfNeeded: firstIndex + descriptors.count + offset)
                sendBuffer.withUnsafeMutableBytes { EchoPattern.fill($0, connection: index, sequence: 1) }
                if send(fd, sendBuffer, messageSize, Int32(MSG_NOSIGNAL)) != messageSize {
                    fail(.reset, code: errno)
                    close(fd)
                    continue
                }
                if echoArrived(fd, expected: sendBuffer, into: &recvBuffer, deadline: deadline) {
                    descriptors.append(fd)
                    counters.connected += 1
                    counters.requestsTotal += 1
                    counters.bytesVerified += UInt64(messageSize)
                } else {
                    close(fd)
                }
            }
        }
    }

    /// Checks that the idle connections are still open (the server did not drop
    /// them while they were quiet); any that were closed are counted as errors.
    func verifyStillOpen() {
        var byte: UInt8 = 0
        for fd in descriptors {
            let result = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
            if result == 0 {
                fail(.eof, code: 0)
            } else if result < 0 && errno != EAGAIN && errno != EWOULDBLOCK {
                fail(.reset, code: errno)
            } else if result > 0 {
                fail(.mismatch, code: 0)
            }
        }
    }

    private func waitConnected(_ fds: [Int32], deadline: UInt64) -> [Int32] {
        var pending = fds
        var connected: [Int32] = []
        while !pending.isEmpty {
            let now = monotonicNanos()
            if now >= deadline {
                for fd in pending {
                    fail(.connect, code: ETIMEDOUT)
                    close(fd)
                }
                break
            }
            var pollSet = pending.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            _ = poll(&pollSet, nfds_t(pollSet.count), Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            var still: [Int32] = []
            for entry in pollSet {
                guard entry.revents != 0 else {
                    still.append(entry.fd)
                    continue
                }
                let result = SocketOps.connectResult(entry.fd)
                if result == 0 {
                    connected.append(entry.fd)
                } else if result == EINPROGRESS {
                    still.append(entry.fd)
                } else {
                    fail(.connect, code: result)
                    close(entry.fd)
                }
            }
            pending = still
        }
        return connected
    }

    private func echoArrived(_ fd: Int32, expected: [UInt8], into buffer: inout [UInt8], deadline: UInt64) -> Bool {
        var received = 0
        while received < messageSize {
            let now = monotonicNanos()
            if now >= deadline {
                fail(.timeout, code: 0)
                return false
            }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            let count = buffer.withUnsafeMutableBytes {
                recv(fd, $0.baseAddress! + received, messageSize - received, Int32(MSG_DONTWAIT))
            }
            if count > 0 {
                received += count
            } else if count == 0 {
                fail(.eof, code: 0)
                return false
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                fail(.reset, code: errno)
                return false
            }
        }
        if buffer != expected {
            fail(.mismatch, code: 0)
            return false
        }
        return true
    }

    private func fail(_ failure: LoadFailure, code: Int32) {
        counters.errors[failure.rawValue] += 1
        if counters.firstError == nil {
            counters.firstError = failure == .connect
                ? "cannot connect to \(endpoint): \(errnoText(code))"
                : "idle connection to \(endpoint) failed (\(failure.key))\(code != 0 ? ": \(errnoText(code))" : "")"
        }
    }
}
