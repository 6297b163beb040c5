import Engine
import Prometheus
import Synchronization

/// Why a connection or session was refused or cut short (the `reason` label of
/// `streamrnn_rejected_connections_total`).
public enum RejectionReason: String, Sendable, CaseIterable {
  /// No or a wrong bearer token (HTTP 401 at the handshake).
  case unauthorized
  /// The server is draining (HTTP 503 at the handshake).
  case draining
  /// `--max-sessions` connections are open (close 1008).
  case tooManySessions = "too_many_sessions"
  /// A config the server cannot serve: unknown model, wrong types, out-of-range values (1003).
  case badConfig = "bad_config"
  /// A message the protocol does not allow here: binary before config, a second config, an
  /// unknown type, a byte count that is not a whole number of samples (1003).
  case badMessage = "bad_message"
  /// A message over `--max-message-bytes` (1009).
  case messageTooLarge = "message_too_large"
  /// The client did not read its results and its outbound queue filled (1008).
  case slowReader = "slow_reader"
  /// The session failed inside the server (1011).
  case internalError = "internal_error"
}

/// The server's Prometheus metrics (swift-prometheus): sessions, frames, drops, queue depth, batch
/// sizes, added latency and rejections. Counters kept by the engines are read at each scrape.
/// Any thread.
public final class ServerMetrics: Sendable {
  /// The registry `/metrics` prints.
  public let registry = PrometheusCollectorRegistry()
  let sessionsOpen: Gauge
  let sessionsOpened: Counter
  let frames: Counter
  let droppedSamples: Counter
  let queuedSamples: Gauge
  let batches: Counter
  let batchedFrames: Counter
  let largestBatch: Gauge
  let latency: ValueHistogram
  let rejected: [RejectionReason: Counter]
  /// Binary messages pushed on the event loop (``AudioFastPath``) rather than by the connection.
  let fastPathMessages: Counter
  /// The engines' totals at the last scrape (their counters only grow).
  private let scraped = Mutex<(frames: Int, dropped: Int, batches: Int, batched: Int)>((0, 0, 0, 0))

  /// Registers every metric (names `streamrnn_<name>_<unit>`).
  public init() {
    func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
      MetricNameDescriptor(namespace: "streamrnn", metricName: metric, unitName: unit, helpText: help)
    }
    sessionsOpen = registry.makeGauge(
      descriptor: name("sessions", "open", "WebSocket sessions open now (counted from the handshake)."))
    sessionsOpened = registry.makeCounter(
      descriptor: name("sessions_opened", "total", "Sessions opened (a config accepted)."))
    frames = registry.makeCounter(descriptor: name("frames", "total", "Model frames delivered to sessions."))
    droppedSamples = registry.makeCounter(
      descriptor: name("dropped_samples", "total", "Audio samples dropped by full session input queues."))
    queuedSamples = registry.makeGauge(
      descriptor: name("queue_depth", "samples", "Audio samples waiting in session input queues now."))
    batches = registry.makeCounter(descriptor: name("batches", "total", "Batched model steps."))
    fastPathMessages = registry.makeCounter(
      descriptor: name(
        "fast_path_messages", "total", "Audio messages pushed on the event loop that read them (no task hop)."
      ))
    batchedFrames = registry.makeCounter(
      descriptor: name(
        "batched_frames", "total", "Frames stepped in batches (divided by batches: the mean batch size)."))
    largestBatch = registry.makeGauge(descriptor: name("batch_size", "max", "The largest batch so far."))
    latency = registry.makeValueHistogram(
      descriptor: name(
        "added_latency", "seconds",
        "Audio received to its frame's result handed to the session's writer, seconds."),
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2])
    var rejected: [RejectionReason: Counter] = [:]
    for reason in RejectionReason.allCases {
      rejected[reason] = registry.makeCounter(
        descriptor: name(
          "rejected_connections", "total", "Connections refused or closed by the server, by reason."),
        labels: [("reason", reason.rawValue)])
    }
    self.rejected = rejected
  }

  /// Counts a refusal.
  public func reject(_ reason: RejectionReason) { rejected[reason]?.increment() }

  /// Reads the engines' counters into the metrics, then prints them (Prometheus text format).
  func scrape(engines: [StreamEngine]) -> [UInt8] {
    var totals = (frames: 0, dropped: 0, batches: 0, batched: 0)
    var largest = 0
    var queued = 0
    for engine in engines {
      totals.frames += engine.deliveredRecords.load(ordering: .relaxed)
      totals.dropped += engine.droppedSamples.load(ordering: .relaxed)
      let statistics = engine.batchStatistics
      totals.batches += statistics.batches
      totals.batched += statistics.frames
      largest = max(largest, statistics.largest)
      queued += engine.queuedSamples
    }
    let previous = scraped.withLock { last in
      let previous = last
      last = (
        max(last.frames, totals.frames), max(last.dropped, totals.dropped), max(last.batches, totals.batches),
        max(last.batched, totals.batched)
      )
      return previous
    }
    frames.increment(by: Int64(max(0, totals.frames - previous.frames)))
    droppedSamples.increment(by: Int64(max(0, totals.dropped - previous.dropped)))
    batches.increment(by: Int64(max(0, totals.batches - previous.batches)))
    batchedFrames.increment(by: Int64(max(0, totals.batched - previous.batched)))
    largestBatch.set(Double(largest))
    queuedSamples.set(Double(queued))
    return registry.emitToBuffer()
  }
}
