// `for try await` over a listener's connections and a connection's bytes: the shapes
// Swift users reach for first. Both are thin loops over accept and the borrowed read;
// the Net layer's handlers (`serve`, `serveOnInput`) stay the faster choice for a
// server (see the "Async sequences" section of the Connections article).

extension Listener {
    /// The connections this listener accepts, in order, until it is closed (then
    /// the sequence ends) or the iterating task is cancelled (it ends too, without an
    /// error). Running out of descriptors or memory is waited out with
    /// ``serve(_:)``'s back-off rather than thrown. Each connection is the caller's to
    /// close.
    ///
    /// ```swift
    /// for try await conn in listener.connections {
    ///     Task { try await handle(conn) }
    /// }
    /// ```
    ///
    /// Unlike ``serve(_:)``, the handling is the caller's: a task per connection
    /// started from the loop body runs on the global executor unless given the
    /// connection's loop (`Task(executorPreference: conn.loop)`), and nothing closes
    /// the connections when the iteration stops.
    public var connections: AcceptedConnections<Self> { AcceptedConnections(listener: self) }
}

/// The connections a listener accepts (``Listener/connections``).
public struct AcceptedConnections<L: Listener>: AsyncSequence, Sendable {
    public typealias Element = L.Connection
    public typealias Failure = any Error
    let listener: L

    public func makeAsyncIterator() -> Iterator { Iterator(listener: listener) }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = L.Connection
        public typealias Failure = any Error
        let listener: L
        var backoff = AcceptBackoff()
        var finished = false

        /// The next connection; nil once the listener is closed or the task cancelled.
        /// Other errors (a deadline set on the listener, a descriptor that is not a
        /// listener) are thrown and end the iteration. Runs on the caller's actor
        /// (`for try await` passes it): on a loop, no hop per connection.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> L.Connection? {
            if finished { return nil }
            do {
                if let conn = try await listener.accept(backingOff: &backoff) { return conn }
            } catch is CancellationError {
            } catch {
                finished = true
                throw error
            }
            finished = true
            return nil
        }

        /// ``next(isolation:)`` off any actor.
        public mutating func next() async throws -> L.Connection? { try await next(isolation: nil) }
    }
}

extension Conn {
    /// The bytes this connection receives, as chunks of at most 64 KiB, until end of
    /// stream (then the sequence ends) or the iterating task is cancelled (it ends
    /// too, without an error). A reset, a read deadline or a close from elsewhere is
    /// thrown. See ``inbound(chunkSize:)``.
    public var inbound: InboundBytes<Self> { inbound(chunkSize: 65536) }

    /// The bytes this connection receives, as chunks of at most `chunkSize` bytes
    /// (capped at 64 KiB, the loop's buffer), in order, until end of stream. Back-
    /// pressured: each chunk is one read, made when the iteration asks for it, so
    /// nothing is read ahead — a consumer that stops asking leaves the bytes in the
    /// kernel and the peer's writes wait. Each chunk is a new array (the one
    /// allocation per read the borrowed reads avoid).
    ///
    /// ```swift
    /// for try await chunk in conn.inbound {
    ///     try await conn.write(chunk.span)
    /// }
    /// ```
    public func inbound(chunkSize: Int) -> InboundBytes<Self> {
        InboundBytes(conn: self, chunkSize: max(1, chunkSize))
    }
}

/// A connection's received bytes in chunks (``Conn/inbound``).
public struct InboundBytes<C: Conn>: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error
    let conn: C
    let chunkSize: Int

    public func makeAsyncIterator() -> Iterator { Iterator(conn: conn, chunkSize: chunkSize) }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = [UInt8]
        public typealias Failure = any Error
        let conn: C
        let chunkSize: Int
        var finished = false

        /// The next chunk (never empty); nil at end of stream or once the task is
        /// cancelled. Runs on the caller's actor (`for try await` passes it): an
        /// iteration on a connection's loop stays there, with no hop per chunk —
        /// the stand-in `next()` would run on the global executor.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            if finished { return nil }
            do {
                let chunk = try await conn.readSpan(upTo: chunkSize) { bytes in
                    bytes.withUnsafeBytes { [UInt8]($0) }
                }
                if !chunk.isEmpty { return chunk }
            } catch is CancellationError {
            } catch {
                finished = true
                throw error
            }
            finished = true
            return nil
        }

        /// ``next(isolation:)`` off any actor.
        public mutating func next() async throws -> [UInt8]? { try await next(isolation: nil) }
    }
}
