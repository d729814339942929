import Glibc

/// stdout or stderr, written unbuffered with write(2): what a command prints
/// reaches a parent reading its pipe at once, in the order it was written (the
/// echo server's `listening on` and statistics lines, `idle-ready`, progress).
/// The one way the CLI and the bench print.
public enum StandardStream: Sendable {
    case output
    case error

    /// `text` and a newline.
    public func line(_ text: String) {
        write(text + "\n")
    }

    /// `text` as it is, all of it (an error such as a closed pipe drops the rest).
    public func write(_ text: String) {
        let fd = self == .output ? STDOUT_FILENO : STDERR_FILENO
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
