import ModelIO
import Pipeline
import StreamCore
import Synchronization
import WireProtocol

/// What a connection's main loop reacts to, from its reader, its ticker and the engine's delivery
/// thread, in the order they happened.
package enum ConnectionEvent: Sendable {
  /// A whole WebSocket message (text or binary) from the client.
  case text(String)
  case binary([UInt8])
  /// A message over the size limit arrived (the reader has stopped).
  case tooLarge
  /// The client's side ended: nil when it closed, else the transport's error.
  case inboundEnded((any Error)?)
  /// A message for the client (from the delivery thread).
  case outbound(String)
  /// The outbound queue filled: the client does not read.
  case overflow
  /// The engine delivered the session's end (all its messages are queued before this).
  case sessionEnded
  /// Time passes (idle timeout, drain).
  case tick
  /// The connection's `AudioFastPath` marker of this epoch came through: everything the client
  /// sent before it has been handled.
  case armMarker(Int)
}

/// A session's results as protocol messages: records into `frames` messages (one per delivery
/// pass, when asked for), events as they are decided, the end as ``ConnectionEvent/sessionEnded``.
/// Runs on the engine's delivery thread and hands everything to the connection through its event
/// stream; never blocks. At most `limit` messages wait unread: beyond that the session is
/// reported as a slow reader and further messages are dropped.
package final class WireSink: BatchingFrameSink, EventSink, @unchecked Sendable {
  private let events: AsyncStream<ConnectionEvent>.Continuation
  private let outputs: OutputSelection
  private let metrics: ServerMetrics
  private let limit: Int
  /// Messages handed over and not yet written by the connection (the connection decrements).
  package let pending = Atomic<Int>(0)
  private var overflowed = false
  private var frames = FramesMessageBuilder()
  private var rate = 16_000
  private var quotedLabels: [String] = []

  package init(
    events: AsyncStream<ConnectionEvent>.Continuation, outputs: OutputSelection, metrics: ServerMetrics,
    limit: Int
  ) {
    self.events = events
    self.outputs = outputs
    self.metrics = metrics
    self.limit = limit
  }

  package func begin(_ stream: StreamDescription) throws {
    rate = stream.sampleRate
    quotedLabels = outputNames(stream).map(jsonQuoted)
  }

  package func write(_ record: FrameRecord) throws {
    if record.latencyMicroseconds.isFinite, record.latencyMicroseconds >= 0 {
      metrics.latency.record(record.latencyMicroseconds / 1e6)
    }
    guard outputs == .frames else { return }
    if let message = frames.add(frame: record.index, outputs: record.outputs) { send(message) }
  }

  package func endBatch() throws {
    if let message = frames.take() { send(message) }
  }

  package func write(_ event: StreamEvent) throws {
    guard outputs != .none else { return }
    // Frames decided before the event go first.
    if let message = frames.take() { send(message) }
    send(ServerMessage.event(event, rate: rate, quotedLabels: quotedLabels))
  }

  package func finish() throws {
    if let message = frames.take() { send(message) }
    events.yield(.sessionEnded)
  }

  private func send(_ message: String) {
    guard !overflowed else { return }
    if pending.load(ordering: .relaxed) >= limit {
      overflowed = true
      events.yield(.overflow)
      return
    }
    pending.add(1, ordering: .relaxed)
    events.yield(.outbound(message))
  }
}
