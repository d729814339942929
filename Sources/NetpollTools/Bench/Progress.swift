import Glibc

/// Live progress on stderr: one status line rewritten in place on a terminal,
/// plain lines when stderr is piped (CI logs stay readable).
final class Progress {
    private let interactive = isatty(STDERR_FILENO) != 0
    private var statusShown = false

    func status(_ text: String) {
        if interactive {
            write("\r\u{1B}[2K\(text) …")
            statusShown = true
        } else {
            write("\(text)\n")
        }
    }

    /// A line that stays (a warning, a failure), printed above the status line.
    func note(_ text: String) {
        clearStatus()
        write("netpoll bench: \(text)\n")
    }

    func finish() {
        clearStatus()
    }

    private func clearStatus() {
        if statusShown {
            write("\r\u{1B}[2K")
            statusShown = false
        }
    }

    private func write(_ text: String) {
        StandardStream.error.write(text)
    }
}
