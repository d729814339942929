#if canImport(Glibc)
import Glibc
#endif

/// One line to stderr in a single write(2), unbuffered: where ``NetpollLog`` sends
/// the library's lines (the `auto` backend's fallback note, a loop's poll failure)
/// when no sink is installed, so they must not interleave mid-line with the
/// program's own output.
func printToStderr(_ line: String) {
    var s = line
    s.append("\n")
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}
