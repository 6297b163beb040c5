import AudioFile
import Engine
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Pipeline
import StreamCore
import Synchronization
import WireProtocol

/// One WebSocket connection: the protocol's state machine (config → ready → audio, reset, eof →
/// stats, close) over one engine session.
///
/// Three tasks: a reader forwards the client's messages, a watcher ends the connection when a write
/// has been stuck for 5 s on a client that does not read, and the main loop — the only one that
/// touches the session or writes to the client — takes the messages, ticks and the engine's results
/// from one event stream, in order. Time is marked by the server's ``ConnectionClock`` (every
/// 250 ms), which wakes the main loop only when there may be something to do (an idle timeout,
/// the drain, an ending session): with a `Task.sleep` loop per connection, a thousand connections
/// cost 4,000 timer wake-ups a second and as many main-loop turns, about a tenth of the server's
/// CPU; with a timer per connection on its event loop, 4,000 timer-heap updates, about 3 %. Audio
/// is pushed with back-pressure: when the session's input queue is full the main loop waits, so
/// the client's TCP window closes instead of audio being dropped.
final class WireConnection: ClockTicked, @unchecked Sendable {
  private let server: StreamServer
  private let outbound: WebSocketOutboundWriter
  private let logger: Logger
  private let fastPath: AudioFastPath?
  /// The connection's channel (nil in tests that have none): closed when a write is stuck.
  private let channel: (any Channel)?
  private let events: AsyncStream<ConnectionEvent>
  private let continuation: AsyncStream<ConnectionEvent>.Continuation
  /// Monotonic ns when the main loop started its current write, 0 when not writing.
  private let writeStarted = Atomic<UInt64>(0)
  /// Fired by the timer when a write has been stuck for 5 s.
  private let stuck = StuckWriterSignal()
  /// Monotonic ns of the last message the main loop took (written there, read by the timer).
  private let lastReceived = Atomic<UInt64>(monotonicNow())
  /// Bytes of client messages the reader has handed to the main loop and the main loop has not yet
  /// handled; the reader waits while this is over ``unhandledLimit``.
  private let unhandled = UnhandledBytes()
  /// 1 MiB, or one message over it.
  static let unhandledLimit = 1 << 20
  /// Whether the session is ending (``finishing`` set; written by the main loop, read by the timer).
  private let ending = Atomic<Bool>(false)

  // Main loop only.
  private var session: OpenSession?
  private var finishing: WebSocketErrorCode? {
    didSet { ending.store(finishing != nil, ordering: .relaxed) }
  }
  private var done = false

  /// An open engine session and what converts the client's audio for it.
  private final class OpenSession {
    let id: String
    let model: ServedModel
    let engine: StreamEngine
    let handle: SessionHandle
    let sink: WireSink
    let config: SessionConfig
    let resampler: Resampler?
    /// Decoded samples at the client's rate, then (resampled) at the model's.
    var decoded: [Float] = []
    var converted: [Float] = []
    var receivedSamples = 0

    init(
      id: String, model: ServedModel, engine: StreamEngine, handle: SessionHandle, sink: WireSink,
      config: SessionConfig, resampler: Resampler?
    ) {
      self.id = id
      self.model = model
      self.engine = engine
      self.handle = handle
      self.sink = sink
      self.config = config
      self.resampler = resampler
    }
  }

  init(
    server: StreamServer, outbound: WebSocketOutboundWriter, logger: Logger, channel: (any Channel)?,
    fastPath: AudioFastPath?
  ) {
    self.channel = channel
    self.server = server
    self.outbound = outbound
    self.logger = logger
    self.fastPath = fastPath
    (events, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
  }

  /// Serves the connection until it ends. Rethrows a transport error (the WebSocket layer then
  /// closes with its code: 1009 for an oversized message).
  func run(inbound: WebSocketInboundStream) async throws {
    let maxBytes = server.options.maxMessageBytes
    let continuation = self.continuation
    let fastPath = self.fastPath
    let unhandled = self.unhandled
    /// How each task ended.
    enum Ended: Sendable {
      case reader
      case ticker(stuckWriter: Bool)
      case main((any Error)?)
    }
    var failure: (any Error)?
    var stuckWriter = false
    server.clock.register(self)
    defer { server.clock.unregister(self) }
    await withTaskGroup(of: Ended.self) { group in
      group.addTask {
        do {
          // (A message of one frame is not held to `maxSize` by the WebSocket layer: checked here.)
          for try await message in inbound.messages(maxSize: maxBytes) {
            switch message {
            case .text(let text) where fastPath?.markerEpoch(text) != nil:
              continuation.yield(.armMarker(fastPath?.markerEpoch(text) ?? -1))
            case .text(let text) where text.utf8.count > maxBytes:
              continuation.yield(.tooLarge)
              return .reader
            case .binary(let buffer) where buffer.readableBytes > maxBytes:
              continuation.yield(.tooLarge)
              return .reader
            case .text(let text):
              unhandled.bytes.add(text.utf8.count, ordering: .relaxed)
              continuation.yield(.text(text))
            case .binary(let buffer):
              unhandled.bytes.add(buffer.readableBytes, ordering: .relaxed)
              continuation.yield(.binary(Array(buffer.readableBytesView)))
            }
            // The main loop is behind (its session's queue is full, or a write to the client is
            // stuck): read no further, so TCP holds the client back instead of the event stream
            // growing without bound.
            while unhandled.bytes.load(ordering: .relaxed) > Self.unhandledLimit {
              try await Task.sleep(for: .milliseconds(1))
            }
          }
          continuation.yield(.inboundEnded(nil))
        } catch {
          continuation.yield(.inboundEnded(error))
        }
        return .reader
      }
      group.addTask {
        // Ends the connection when a write has been stuck for 5 s: the client does not read.
        .ticker(stuckWriter: await self.stuck.wait())
      }
      group.addTask {
        do {
          try await self.mainLoop()
          return .main(nil)
        } catch {
          return .main(error)
        }
      }
      while let ended = await group.next() {
        switch ended {
        case .reader: continue
        case .ticker(let stuck):
          stuckWriter = stuck
          // A write suspended on a channel that cannot take more is not ended by cancelling its
          // task: closing the channel fails it, and the main loop (and the fast path's audio)
          // stop with it.
          if stuck { channel?.close(mode: .all, promise: nil) }
          group.cancelAll()
        case .main(let error):
          failure = error
          group.cancelAll()
        }
      }
    }
    continuation.finish()
    if let session {
      // The client went away, or stopped reading: the session ends without sending anything.
      await fastPath?.disarm()
      try? session.engine.close(session.handle)
      if stuckWriter { server.metrics.reject(.slowReader) }
      logClose(session, reason: stuckWriter ? "slow reader" : "connection lost")
      self.session = nil
    }
    if let failure, !(failure is CancellationError) { throw failure }
  }

  private func mainLoop() async throws {
    for await event in events {
      switch event {
      case .text(let text):
        defer { unhandled.bytes.subtract(text.utf8.count, ordering: .relaxed) }
        lastReceived.store(monotonicNow(), ordering: .relaxed)
        try await receive(text: text)
        askForFastPath()
      case .binary(let bytes):
        defer { unhandled.bytes.subtract(bytes.count, ordering: .relaxed) }
        lastReceived.store(monotonicNow(), ordering: .relaxed)
        try await receive(binary: bytes)
        askForFastPath()
      case .armMarker(let epoch):
        if let fastPath, let session, streamsThroughFastPath(session) {
          fastPath.arm(
            epoch: epoch,
            target: .init(engine: session.engine, handle: session.handle, encoding: session.config.encoding))
        }
      case .outbound(let message):
        session?.sink.pending.subtract(1, ordering: .relaxed)
        try await write(message)
      case .overflow:
        try await refuse(
          .slowReader,
          "the outbound queue is full (\(server.options.outboundMessages) messages): read faster",
          code: .policyViolation)
      case .sessionEnded:
        try await complete()
      case .tooLarge:
        try await refuse(
          .messageTooLarge, "a message over --max-message-bytes (\(server.options.maxMessageBytes) bytes)",
          code: .messageTooLarge)
      case .inboundEnded(let error):
        if let error {
          if "\(error)".contains("messageTooLarge") {
            server.metrics.reject(.messageTooLarge)
            try? await write(
              ServerMessage.error(
                "a message over --max-message-bytes (\(server.options.maxMessageBytes) bytes)"))
          }
          throw error
        }
        return
      case .tick:
        try await tick()
      }
      if done { return }
    }
  }

  // MARK: The fast path

  /// Whether `session`'s audio may go through the ``AudioFastPath`` now: streaming, at the
  /// model's rate (a resampled session's audio always comes here).
  private func streamsThroughFastPath(_ session: OpenSession) -> Bool {
    finishing == nil && !done && session.resampler == nil
  }

  /// After a message handled here: the fast path may take the next ones (once its marker is here).
  private func askForFastPath() {
    if let fastPath, let session, streamsThroughFastPath(session) { fastPath.requestArming() }
  }

  // MARK: Messages from the client

  private func receive(text: String) async throws {
    guard finishing == nil else { return }
    let message: ClientMessage
    do {
      message = try ClientMessage.parse(text.utf8)
    } catch {
      let reason: RejectionReason = text.contains("\"config\"") ? .badConfig : .badMessage
      try await refuse(reason, error.description, code: .unacceptableData)
      return
    }
    switch message {
    case .config(let config):
      guard session == nil else {
        try await refuse(
          .badMessage, "a second config (the session is configured already)", code: .unacceptableData)
        return
      }
      try await open(config)
    case .reset:
      guard let session else {
        try await refuse(.badMessage, "reset before config", code: .unacceptableData)
        return
      }
      try? session.engine.reset(session.handle)
    case .eof:
      guard session != nil else {
        try await finishWithoutSession(code: .normalClosure)
        return
      }
      try await beginFinish(code: .normalClosure)
    }
  }

  private func open(_ config: SessionConfig) async throws {
    guard let served = server.model(named: config.model) else {
      let names = server.models.map(\.model.name).joined(separator: ", ")
      try await refuse(
        .badConfig, "unknown model \"\(config.model ?? "")\" (served: \(names))", code: .unacceptableData)
      return
    }
    let (model, engine) = served
    let rate = model.features.sampleRate
    let resampler: Resampler?
    do {
      resampler =
        config.sampleRate == rate
        ? nil : try Resampler(inputRate: Double(config.sampleRate), outputRate: Double(rate))
    } catch {
      try await refuse(.badConfig, "sample_rate \(config.sampleRate): \(error)", code: .unacceptableData)
      return
    }
    var observers: [any StreamObserver] = []
    let description = engine.description
    let hasSpeech =
      description.labels?.contains(config.speechLabel) == true || description.outputCount == 1
    if hasSpeech {
      observers.append(SegmentObserver(parameters: config.segments, speechLabel: config.speechLabel))
    }
    if let events = config.events {
      do { try events.validate(labels: outputNames(description)) } catch {
        try await refuse(.badConfig, "events: \(error)", code: .unacceptableData)
        return
      }
      observers.append(EventObserver(parameters: events))
    }
    let sink = WireSink(
      events: continuation, outputs: config.outputs, metrics: server.metrics,
      limit: server.options.outboundMessages)
    let id = config.session ?? server.makeSessionID()
    let handle: SessionHandle
    do {
      handle = try engine.open(
        id: id, delivery: SessionDelivery(observers: observers, sink: sink, timings: true))
    } catch {
      let reason: RejectionReason
      if case .tooManySessions = error { reason = .tooManySessions } else { reason = .badConfig }
      try await refuse(
        reason, "cannot open the session: \(error)",
        code: reason == .tooManySessions ? .policyViolation : .unacceptableData)
      return
    }
    let session = OpenSession(
      id: id, model: model, engine: engine, handle: handle, sink: sink, config: config, resampler: resampler)
    self.session = session
    server.metrics.sessionsOpened.increment()
    logger.info(
      "session open",
      metadata: [
        "session": "\(id)", "model": "\(model.name)", "sample_rate": "\(config.sampleRate)",
        "encoding": "\(config.encoding.rawValue)", "outputs": "\(config.outputs.rawValue)",
      ])
    try await write(
      ServerMessage.ready(
        session: id, model: model.name, frameSeconds: description.secondsPerFrame, labels: description.labels,
        lookaheadFrames: model.chain.lookahead))
  }

  private func receive(binary bytes: [UInt8]) async throws {
    guard finishing == nil else { return }
    guard let session else {
      try await refuse(.badMessage, "binary audio before config", code: .unacceptableData)
      return
    }
    let width = session.config.encoding.bytesPerSample
    guard bytes.count % width == 0 else {
      try await refuse(
        .badMessage,
        "a binary message of \(bytes.count) bytes is not a whole number of \(width)-byte samples (\(session.config.encoding.rawValue))",
        code: .unacceptableData)
      return
    }
    let count = bytes.count / width
    guard count > 0 else { return }
    if session.decoded.count < count { session.decoded = [Float](repeating: 0, count: count) }
    let finite = session.decoded.withUnsafeMutableBufferPointer { decoded in
      bytes.withUnsafeBytes { raw in decodePCM(raw, session.config.encoding, maskKey: 0, into: decoded) }
    }
    guard finite else {
      try await refuse(
        .badMessage, "pcm_f32le samples must be finite (a NaN or infinity arrived)", code: .unacceptableData)
      return
    }
    session.receivedSamples += count
    if let resampler = session.resampler {
      session.converted.removeAll(keepingCapacity: true)
      try session.decoded.withUnsafeBufferPointer { decoded in
        try resampler.process(UnsafeBufferPointer(rebasing: decoded[0..<count])) { block in
          session.converted.append(contentsOf: block)
        }
      }
      try await pushSamples(session, session.converted, count: session.converted.count)
    } else {
      try await pushSamples(session, session.decoded, count: count)
    }
  }

  /// Hands the first `count` of `samples` to the engine in pieces of at most a quarter of the input
  /// queue, waiting (1 ms at a time) while the queue is full: nothing the client sent is dropped.
  private func pushSamples(_ session: OpenSession, _ samples: [Float], count: Int) async throws {
    let piece = max(1, session.engine.options.queueSamples / 4)
    var offset = 0
    while offset < count {
      let end = min(count, offset + piece)
      let result = try samples.withUnsafeBufferPointer {
        try session.engine.tryPush(session.handle, UnsafeBufferPointer(rebasing: $0[offset..<end]))
      }
      if result == .pushed {
        offset = end
      } else {
        try await Task.sleep(for: .milliseconds(1))
      }
    }
  }

  // MARK: The end

  /// Whether nothing has come from the client for ``ServerOptions/idleTimeout`` (any thread).
  private func isIdle(now: UInt64) -> Bool {
    let last = max(
      lastReceived.load(ordering: .relaxed), fastPath?.lastReceived.load(ordering: .relaxed) ?? 0)
    return Double(now &- last) / 1e9 > server.options.idleTimeout
  }

  /// The server's clock, every 250 ms: fires ``stuck`` when a write has been stuck for 5 s, and
  /// wakes the main loop with a tick when the session may have to end (idle, drain) or is ending
  /// (the engine's end is then checked for).
  func pulse(now: UInt64) {
    let started = writeStarted.load(ordering: .relaxed)
    if started != 0, now &- started > 5_000_000_000 { stuck.fire() }
    if ending.load(ordering: .relaxed) || server.drainDeadlinePassed || isIdle(now: now) {
      continuation.yield(.tick)
    }
  }

  private func tick() async throws {
    if finishing != nil {
      // The engine delivers the end as an event; should the engine have stopped, do not wait.
      if let session, session.engine.summary(session.handle) != nil, !server.enginesRunning {
        try await complete()
      }
      return
    }
    let idle = isIdle(now: monotonicNow())
    let forced = server.drainDeadlinePassed
    guard idle || forced else { return }
    let code: WebSocketErrorCode = forced ? .goingAway : .normalClosure
    if session == nil {
      try await finishWithoutSession(code: code)
    } else {
      try await beginFinish(code: code)
    }
  }

  /// eof, idle timeout or drain: the resampler's tail goes in, then the engine flushes the
  /// session; its end arrives as ``ConnectionEvent/sessionEnded``.
  private func beginFinish(code: WebSocketErrorCode) async throws {
    guard let session, finishing == nil else { return }
    finishing = code
    await fastPath?.disarm()
    if let resampler = session.resampler {
      session.converted.removeAll(keepingCapacity: true)
      try resampler.finish { session.converted.append(contentsOf: $0) }
      try await pushSamples(session, session.converted, count: session.converted.count)
    }
    try? session.engine.close(session.handle)
  }

  /// The session's end was delivered: `stats`, then the close.
  private func complete() async throws {
    guard let session, let code = finishing else { return }
    // The summary is stored just after the sink's end (on the delivery thread).
    var summary = session.engine.summary(session.handle)
    for _ in 0..<1000 where summary == nil && server.enginesRunning {
      try? await Task.sleep(for: .milliseconds(1))
      summary = session.engine.summary(session.handle)
    }
    try await write(
      ServerMessage.stats(
        frames: summary?.delivered ?? 0, dropped: summary?.droppedSamples ?? 0, latency: summary?.latency))
    logClose(session, reason: code == .goingAway ? "drained" : "finished")
    self.session = nil
    try? await outbound.close(code, reason: nil)
    done = true
  }

  /// The end of a connection that never opened a session (eof, idle, drain before config).
  private func finishWithoutSession(code: WebSocketErrorCode) async throws {
    finishing = code
    try await write(ServerMessage.stats(frames: 0, dropped: 0, latency: nil))
    try? await outbound.close(code, reason: nil)
    done = true
  }

  /// An error message, then the close; the session (if any) ends without its results.
  private func refuse(_ reason: RejectionReason, _ message: String, code: WebSocketErrorCode) async throws {
    server.metrics.reject(reason)
    logger.notice(
      "session refused",
      metadata: ["session": "\(session?.id ?? "-")", "reason": "\(reason.rawValue)", "message": "\(message)"])
    if let session {
      finishing = code
      await fastPath?.disarm()
      try? session.engine.close(session.handle)
      logClose(session, reason: reason.rawValue)
      self.session = nil
    }
    try? await write(ServerMessage.error(message))
    try? await outbound.close(code, reason: nil)
    done = true
  }

  private func write(_ message: String) async throws {
    writeStarted.store(monotonicNow(), ordering: .relaxed)
    defer { writeStarted.store(0, ordering: .relaxed) }
    try await outbound.write(.text(message))
  }

  private func logClose(_ session: OpenSession, reason: String) {
    let summary = session.engine.summary(session.handle)
    logger.info(
      "session closed",
      metadata: [
        "session": "\(session.id)", "reason": "\(reason)",
        "received_samples":
          "\(session.receivedSamples + (fastPath?.receivedSamples.load(ordering: .relaxed) ?? 0))",
        "frames": "\(summary.map { "\($0.delivered)" } ?? "-")",
        "dropped_samples": "\(summary.map { "\($0.droppedSamples)" } ?? "-")",
      ])
  }
}

/// A one-time signal from the connection's timer to its watcher task: ``wait()`` returns true once
/// ``fire()`` has been called, false when the waiting task is cancelled (the connection ended).
final class StuckWriterSignal: Sendable {
  private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Bool, Never>?)>((false, nil))

  /// Suspends until ``fire()`` (true) or the task's cancellation (false).
  func wait() async -> Bool {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
        let now: Bool? = state.withLock { state in
          if state.fired { return true }
          if Task.isCancelled { return false }
          state.waiter = waiter
          return nil
        }
        if let now { waiter.resume(returning: now) }
      }
    } onCancel: {
      state.withLock { state in
        defer { state.waiter = nil }
        return state.waiter
      }?.resume(returning: false)
    }
  }

  /// Wakes the waiter with true (now, or when it starts waiting).
  func fire() {
    state.withLock { state in
      state.fired = true
      defer { state.waiter = nil }
      return state.waiter
    }?.resume(returning: true)
  }
}

/// A connection's count of client bytes handed to its main loop and not yet handled (any thread).
final class UnhandledBytes: Sendable {
  let bytes = Atomic<Int>(0)
}
