import CNetpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// What a ring is set up with: the poll mode, the setup flags asked for (each falling
// back to what the kernel accepts), its size and its receive buffers.
extension URingPoller {
    public enum Mode: String, Sendable, CaseIterable {
        /// `IORING_POLL_ADD_MULTI`: armed once, re-armed only when the kernel ends it.
        case multishot
        /// One poll per direction, armed when a task is about to wait on it
        /// (``arm(token:events:)``): kernels before 5.13, and for comparison.
        case oneshot
        /// Connected stream sockets are read by a multishot `RECV` into a provided-
        /// buffer ring (Linux 6.0+); writes stay direct `send(2)` calls, with a
        /// one-shot `POLLOUT` poll when the socket is full. Everything else as
        /// `multishot`.
        case completion
    }

    /// Which ring setup flags to ask for; each falls back to the next the kernel accepts.
    public enum Setup: String, Sendable, CaseIterable {
        /// SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG → coop → plain.
        case deferTaskrun = "defer"
        /// SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG → plain.
        case coopTaskrun = "coop"
        /// No optional flags.
        case plain

        var attempts: [UInt32] {
            let single = CNP_SETUP_SINGLE_ISSUER, deferTR = CNP_SETUP_DEFER_TASKRUN
            let coop = CNP_SETUP_COOP_TASKRUN, flag = CNP_SETUP_TASKRUN_FLAG, all = CNP_SETUP_SUBMIT_ALL
            switch self {
            case .deferTaskrun: return [single | deferTR | flag | all, single | coop | flag | all, coop | all, all, 0]
            case .coopTaskrun: return [single | coop | flag | all, coop | all, all, 0]
            case .plain: return [all, 0]
            }
        }
    }

    public struct Options: Sendable, Hashable {
        public var entries: UInt32
        public var mode: Mode
        public var setup: Setup
        /// Completion mode: buffers in the loop's provided-buffer ring (a power of
        /// two, at most 32768) and the size of each. The default, 512 × 4 KiB = 2 MiB
        /// of address space per loop, holds one 4 KiB message for each of 512 busy
        /// connections; pages are only resident once the kernel has written them.
        public var receiveBuffers: UInt32
        public var receiveBufferSize: UInt32
        /// Optional features (URingFeatures.swift); `auto` by default.
        public var features: Features
        /// ``Feature/minWait``: the completions a sleeping loop waits for at most
        /// ``minWaitMicros`` before it takes what is there.
        public var minWaitBatch: UInt32 = 16
        public var minWaitMicros: UInt32 = 50
        /// ``Feature/fixedFiles``: slots in the ring's file table (at most the
        /// process's RLIMIT_NOFILE). Descriptors past it work as without the feature.
        /// The kernel keeps 8 bytes per slot, this poller 17.
        public var fileTableSlots: UInt32 = 4096
        public init(
            entries: UInt32 = 256, mode: Mode = .multishot, setup: Setup = .deferTaskrun,
            receiveBuffers: UInt32 = 512, receiveBufferSize: UInt32 = 4096, features: Features = .auto
        ) {
            self.entries = entries
            self.mode = mode
            self.setup = setup
            self.receiveBuffers = receiveBuffers
            self.receiveBufferSize = receiveBufferSize
            self.features = features
        }

        /// Most ring buffers one descriptor may hold queued before its RECV is
        /// stopped: 1/32 of the ring, between 2 and 16 (64 KiB with the default
        /// ring). A reader that stops reading pins at most this much; the rest of
        /// the ring keeps serving the loop's other connections.
        public var receiveCap: Int { Int(max(2, min(16, receiveBuffers / 32))) }
    }
}
