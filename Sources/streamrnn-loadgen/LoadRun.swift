import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Pipeline
import StreamCore

/// What the load generator measures, over every session.
struct LoadTotals {
  /// Frames the sessions' audio should have produced, and frames received in `frames` messages.
  var expected = 0
  var received = 0
  /// Frames whose result came more than 20 ms after their last sample was sent.
  var late = 0
  /// Last sample of a frame sent → the `frames` message holding it received, ns.
  var latency = LatencyRecorder()
  /// `start`, `segment`, `discard` and label events received.
  var events = 0
  /// With `outputs: events`: events the calibration session did not see (no latency for them).
  var unmatchedEvents = 0
  /// Sessions that ended with a code other than 1000 (and were not reconnected).
  var failed = 0
  var reconnects = 0
  /// Close codes as received (1006: the connection ended without a close frame; -1: no connection).
  var closeCodes: [Int: Int] = [:]
  /// Binary messages sent.
  var messagesSent = 0
  /// The largest p99 of the server's own latency (frame complete → result delivered, µs) that a
  /// session's `stats` reported.
  var serverP99Microseconds: Double?
}

/// One load-generating run: `streams` WebSocket sessions on one event loop, each sending the
/// recording (16-bit PCM, looped) in 20 ms binary messages at real-time pace for `seconds`, then
/// `eof`, and measuring every frame's latency from the `frames` messages.
///
/// Thread: everything here is touched on `loop` only (the connections' handlers, the pacing tick
/// and the completion all run there); `@unchecked Sendable` so closures can carry it to the loop.
final class LoadRun: @unchecked Sendable {
  struct Settings {
    var host: String
    var port: Int
    var path: String
    var token: String?
    var streams: Int
    var seconds: Double
    var reconnect: Bool
    /// `frames` (per-frame outputs: every frame's latency is measured) or `events` (the
    /// protocol's default: frames are counted from `stats`).
    var outputs: String
    /// Connections being set up at once (a burst of thousands overflows a listen backlog).
    var connectingAtOnce: Int
  }

  /// A session's progress.
  enum Phase {
    case waiting, connecting, awaitingReady, sending, finishing, done
  }

  /// One stream's state.
  final class Client: @unchecked Sendable {
    let index: Int
    var phase = Phase.waiting
    var channel: (any Channel)?
    let maskKey: WebSocketMaskingKey
    /// Monotonic ns each binary message of the current connection was sent, by message number.
    var sentTimes: [UInt64] = []
    /// Bytes of the recording sent so far on this connection (the read position, modulo its length).
    var position = 0
    /// Monotonic ns the next message is due.
    var nextSend: UInt64 = 0
    /// Samples per model frame (from `ready`'s `frame_seconds`).
    var hop = 512
    var framesSeen = 0
    /// The highest frame index received in a `frames` message (-1: none yet).
    var lastFrame = -1
    var closeCode: Int?
    /// The calibration session of an `outputs: events` run: all its audio at once, per-frame
    /// outputs, to learn after which frame each event is decided.
    let calibrating: Bool

    init(index: Int, calibrating: Bool = false) {
      self.index = index
      self.calibrating = calibrating
      maskKey = WebSocketMaskingKey.random()
    }
  }

  static let messageNanoseconds: UInt64 = 20_000_000
  let settings: Settings
  let loop: any EventLoop
  let group: MultiThreadedEventLoopGroup
  /// The recording as little-endian 16-bit samples.
  let pcm: ByteBuffer
  let sampleRate: Int
  let samplesPerMessage: Int
  var clients: [Client]
  var totals = LoadTotals()
  /// Monotonic ns the load started and its sessions stop sending.
  private(set) var start: UInt64 = 0
  private(set) var deadline: UInt64 = 0
  /// With `outputs: events`: the frame that decided each event (by ``eventKey``).
  private var eventFrames: [String: Int] = [:]
  /// Completed when the calibration session ends (`outputs: events` only).
  private var calibrated: EventLoopPromise<Void>?
  private var connecting = 0
  private var nextToConnect = 0
  private var remaining: Int
  private var finished: EventLoopPromise<Void>
  private var pacing: RepeatedTask?

  init(settings: Settings, group: MultiThreadedEventLoopGroup, pcm: [Int16], sampleRate: Int) {
    self.settings = settings
    self.group = group
    loop = group.next()
    var buffer = ByteBufferAllocator().buffer(capacity: 2 * pcm.count)
    for sample in pcm { buffer.writeInteger(sample, endianness: .little) }
    self.pcm = buffer
    self.sampleRate = sampleRate
    samplesPerMessage = sampleRate / 50
    clients = (0..<settings.streams).map { Client(index: $0) }
    remaining = settings.streams
    finished = loop.makePromise()
  }

  /// Starts every session and waits until all have ended (or 30 s after the last send). With
  /// `outputs: events`, one calibration session runs first.
  func run() throws {
    if settings.outputs == "events" {
      let calibrated = loop.makePromise(of: Void.self)
      try loop.submit { self.calibrated = calibrated }.wait()
      loop.execute { self.connect(Client(index: 0, calibrating: true)) }
      try calibrated.futureResult.wait()
    }
    let seconds = settings.seconds
    try loop.submit {
      self.start = monotonicNow()
      self.deadline = self.start + UInt64(seconds * 1e9)
    }.wait()
    loop.execute {
      self.connectMore()
      self.pacing = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) {
        _ in self.tick()
      }
    }
    let giveUp = loop.scheduleTask(deadline: .uptimeNanoseconds(deadline + 30_000_000_000)) {
      for client in self.clients where client.phase != .done {
        client.closeCode = client.closeCode ?? -2
        self.end(client)
      }
    }
    try finished.futureResult.wait()
    giveUp.cancel()
  }

  // MARK: Connections

  private func connectMore() {
    // (Not while the calibration session runs: the load starts after it.)
    guard start != 0 else { return }
    while connecting < settings.connectingAtOnce, nextToConnect < clients.count {
      connect(clients[nextToConnect])
      nextToConnect += 1
    }
  }

  private func connect(_ client: Client) {
    client.phase = .connecting
    client.sentTimes.removeAll(keepingCapacity: true)
    client.sentTimes.reserveCapacity(Int(settings.seconds * 50) + 64)
    client.position = 0
    client.framesSeen = 0
    client.closeCode = nil
    connecting += 1
    let settings = self.settings
    let bootstrap = ClientBootstrap(group: loop).channelOption(.socketOption(.tcp_nodelay), value: 1)
    // (The typed upgrade API connects asynchronously; the outcome comes back to the loop.)
    Task {
      var upgraded = false
      do {
        let negotiation = try await bootstrap.connect(host: settings.host, port: settings.port) { channel in
          channel.eventLoop.makeCompletedFuture {
            try Self.configureUpgrade(channel, settings: settings) {
              StreamHandler(run: self, client: client)
            }
          }
        }
        upgraded = try await negotiation.get()
      } catch {
        upgraded = false
      }
      let succeeded = upgraded
      self.loop.execute {
        self.connecting -= 1
        self.connectMore()
        guard !succeeded else {
          self.opened(client)
          return
        }
        // Refused (an HTTP status instead of the upgrade) or no connection.
        client.closeCode = -1
        self.end(client)
      }
    }
  }

  /// The HTTP client pipeline that asks for the WebSocket upgrade on `settings.path` (with the
  /// token) and, once upgraded, hands whole messages to `handler()`. Its future: upgraded or not.
  private static func configureUpgrade(
    _ channel: any Channel, settings: Settings, handler: @escaping @Sendable () -> StreamHandler
  ) throws -> EventLoopFuture<Bool> {
    let upgrader = NIOTypedWebSocketClientUpgrader<Bool>(
      maxFrameSize: 1 << 20,
      upgradePipelineHandler: { channel, _ in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandlers([
            NIOWebSocketFrameAggregator(
              minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: 1 << 24),
            handler(),
          ])
          return true
        }
      })
    var headers = HTTPHeaders()
    headers.add(name: "Host", value: "\(settings.host):\(settings.port)")
    headers.add(name: "Content-Length", value: "0")
    if let token = settings.token { headers.add(name: "Authorization", value: "Bearer \(token)") }
    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: settings.path, headers: headers)
    let configuration = NIOTypedHTTPClientUpgradeConfiguration(
      upgradeRequestHead: head, upgraders: [upgrader],
      notUpgradingCompletionHandler: { channel in channel.close().map { false } })
    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
      configuration: .init(upgradeConfiguration: configuration))
  }

  /// The upgrade is complete (the HTTP handlers are gone): send the config.
  func opened(_ client: Client) {
    client.phase = .awaitingReady
    sendText(
      "{\"type\":\"config\",\"sample_rate\":\(sampleRate),\"encoding\":\"pcm_s16le\",\"outputs\":\"\(client.calibrating ? "frames" : settings.outputs)\"}",
      client: client)
  }

  /// `ready` arrived: start sending, spread over one message period by stream number.
  func ready(_ client: Client, frameSeconds: Double) {
    guard client.phase == .awaitingReady else { return }
    let hop = (frameSeconds * Double(sampleRate)).rounded()
    client.hop = hop >= 1 && hop < 1e7 ? Int(hop) : 512
    if client.calibrating, let channel = client.channel {
      // As much audio as a paced session sends, at once.
      for _ in 0...Int(settings.seconds * 50) { channel.write(binaryFrame(client), promise: nil) }
      client.phase = .finishing
      sendText("{\"type\":\"eof\"}", client: client)
      return
    }
    client.phase = .sending
    client.nextSend = monotonicNow() + UInt64(client.index % 50) * Self.messageNanoseconds / 50
  }

  /// A `frames` message: `count` frames from `startFrame`.
  func frames(_ client: Client, startFrame: Int, count: Int, at now: UInt64) {
    client.lastFrame = max(client.lastFrame, startFrame + count - 1)
    guard !client.calibrating else { return }
    for frame in startFrame..<(startFrame + count) {
      let lastSample = (frame + 1) * client.hop - 1
      let message = lastSample / samplesPerMessage
      guard message >= 0, message < client.sentTimes.count else { continue }
      let latency = now &- client.sentTimes[message]
      totals.latency.record(latency)
      if latency > 20_000_000 { totals.late += 1 }
    }
    client.framesSeen += count
  }

  /// An event, by ``eventKey``: the calibration session notes the frame that decided it; with
  /// `outputs: events`, a load session records its latency from the last sample of that frame.
  func event(_ client: Client, key: String, at now: UInt64) {
    if client.calibrating {
      // The server sends an event before the outputs of the frame that decided it.
      eventFrames[key] = client.lastFrame + 1
      return
    }
    totals.events += 1
    guard settings.outputs == "events" else { return }
    guard let frame = eventFrames[key], frame >= 0 else {
      totals.unmatchedEvents += 1
      return
    }
    let message = ((frame + 1) * client.hop - 1) / samplesPerMessage
    guard message < client.sentTimes.count else {
      totals.unmatchedEvents += 1
      return
    }
    let latency = now &- client.sentTimes[message]
    totals.latency.record(latency)
    if latency > 20_000_000 { totals.late += 1 }
  }

  /// `stats`: with `outputs: events` its frame count is the frames received; its p99 is the
  /// server's own.
  func stats(_ client: Client, frames: Int?, p99: Double?) {
    if settings.outputs != "frames", let frames { client.framesSeen = frames }
    if let p99 { totals.serverP99Microseconds = max(totals.serverP99Microseconds ?? 0, p99) }
  }

  /// The connection is gone (close frame or not): count it, reconnect or finish.
  func end(_ client: Client) {
    guard client.phase != .done else { return }
    if client.calibrating {
      client.phase = .done
      if client.closeCode == 1000 {
        calibrated?.succeed()
      } else {
        calibrated?.fail(
          LoadError(description: "the calibration session ended with code \(client.closeCode ?? 1006)"))
      }
      return
    }
    let code = client.closeCode ?? 1006
    let sentSamples = client.position / 2
    let expected = (sentSamples + client.hop - 1) / client.hop  // the last partial frame is padded at eof
    totals.expected += expected
    totals.received += min(client.framesSeen, expected)
    totals.closeCodes[code, default: 0] += 1
    client.channel = nil
    if code != 1000, settings.reconnect, monotonicNow() < deadline {
      totals.reconnects += 1
      client.phase = .waiting
      loop.scheduleTask(in: .milliseconds(200)) { self.connect(client) }
      return
    }
    if code != 1000 { totals.failed += 1 }
    client.phase = .done
    remaining -= 1
    if remaining == 0 {
      pacing?.cancel()
      finished.succeed()
    }
  }

  // MARK: Pacing

  /// Every millisecond: each sending stream sends the messages that are due; at the end, `eof`.
  private func tick() {
    var now = monotonicNow()
    for client in clients where client.phase == .sending {
      guard let channel = client.channel else { continue }
      var wrote = false
      while client.nextSend <= now, now < deadline {
        channel.write(binaryFrame(client), promise: nil)
        now = monotonicNow()
        client.sentTimes.append(now)
        client.nextSend += Self.messageNanoseconds
        totals.messagesSent += 1
        wrote = true
      }
      if now >= deadline {
        client.phase = .finishing
        sendText("{\"type\":\"eof\"}", client: client)
      } else if wrote {
        channel.flush()
      }
    }
  }

  /// The next 20 ms of the recording (wrapping around its end), masked with the client's key.
  private func binaryFrame(_ client: Client) -> WebSocketFrame {
    let bytes = 2 * samplesPerMessage
    let begin = client.position % pcm.readableBytes
    client.position += bytes
    var data: ByteBuffer
    if begin + bytes <= pcm.readableBytes {
      data = pcm.getSlice(at: begin, length: bytes)!
    } else {
      data = ByteBufferAllocator().buffer(capacity: bytes)
      var rest = bytes
      var at = begin
      while rest > 0 {
        let piece = min(rest, pcm.readableBytes - at)
        data.writeImmutableBuffer(pcm.getSlice(at: at, length: piece)!)
        rest -= piece
        at = 0
      }
    }
    return WebSocketFrame(fin: true, opcode: .binary, maskKey: client.maskKey, data: data)
  }

  func sendText(_ text: String, client: Client) {
    guard let channel = client.channel else { return }
    var buffer = channel.allocator.buffer(capacity: text.utf8.count)
    buffer.writeString(text)
    channel.writeAndFlush(
      WebSocketFrame(fin: true, opcode: .text, maskKey: client.maskKey, data: buffer), promise: nil)
  }
}

/// A session's WebSocket messages after the upgrade: `ready`, `frames`, events, `stats`, the close.
final class StreamHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = WebSocketFrame
  typealias OutboundOut = WebSocketFrame

  private let run: LoadRun
  private let client: LoadRun.Client

  init(run: LoadRun, client: LoadRun.Client) {
    self.run = run
    self.client = client
  }

  func handlerAdded(context: ChannelHandlerContext) {
    client.channel = context.channel
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    switch frame.opcode {
    case .text:
      let now = monotonicNow()
      frame.unmaskedData.withUnsafeReadableBytes { text(UnsafeRawBufferPointer($0), at: now) }
    case .connectionClose:
      var data = frame.unmaskedData
      let code = data.readInteger(as: UInt16.self).map(Int.init) ?? 1005
      if client.closeCode == nil { client.closeCode = code }
      var echo = context.channel.allocator.buffer(capacity: 2)
      echo.writeInteger(UInt16(truncatingIfNeeded: code))
      let channel = context.channel
      context.writeAndFlush(
        wrapOutboundOut(
          WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: client.maskKey, data: echo))
      ).whenComplete { _ in channel.close(promise: nil) }
    case .ping:
      context.writeAndFlush(
        wrapOutboundOut(
          WebSocketFrame(fin: true, opcode: .pong, maskKey: client.maskKey, data: frame.unmaskedData)),
        promise: nil)
    default:
      break
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    run.end(client)
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  /// One text message from the server, read by its `"type"` without a full JSON parse (the server's
  /// messages have a fixed layout; anything unrecognised is ignored).
  private func text(_ bytes: UnsafeRawBufferPointer, at now: UInt64) {
    guard let type = stringField("type", in: bytes) else { return }
    switch type {
    case "frames":
      guard let first = integerField("start_frame", in: bytes),
        let outputs = fieldStart("outputs", in: bytes)
      else { return }
      // Frames = inner arrays of the outputs array (outputs are numbers: no brackets inside).
      var depth = 0
      var count = 0
      for index in outputs..<bytes.count {
        if bytes[index] == UInt8(ascii: "[") {
          depth += 1
          if depth == 2 { count += 1 }
        } else if bytes[index] == UInt8(ascii: "]") {
          depth -= 1
          if depth == 0 { break }
        }
      }
      run.frames(client, startFrame: first, count: count, at: now)
    case "ready":
      run.ready(client, frameSeconds: numberField("frame_seconds", in: bytes) ?? 0.032)
    case "start", "segment", "discard", "onset", "offset", "event":
      run.event(client, key: eventKey(type, bytes), at: now)
    case "stats":
      run.stats(client, frames: integerField("frames", in: bytes), p99: numberField("p99", in: bytes))
    default:
      break
    }
  }
}

/// Where the value of `"key":` begins, or nil.
func fieldStart(_ key: String, in bytes: UnsafeRawBufferPointer) -> Int? {
  let pattern = Array("\"\(key)\":".utf8)
  guard bytes.count >= pattern.count else { return nil }
  var index = 0
  while index + pattern.count <= bytes.count {
    var match = true
    for offset in 0..<pattern.count where bytes[index + offset] != pattern[offset] {
      match = false
      break
    }
    if match { return index + pattern.count }
    index += 1
  }
  return nil
}

/// The string value of `"key":"…"` (no escapes), or nil.
func stringField(_ key: String, in bytes: UnsafeRawBufferPointer) -> String? {
  guard var index = fieldStart(key, in: bytes), index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
    return nil
  }
  index += 1
  let begin = index
  while index < bytes.count, bytes[index] != UInt8(ascii: "\""), index - begin < 64 { index += 1 }
  guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
  return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[begin..<index]), as: UTF8.self)
}

/// The non-negative integer value of `"key":N`, or nil (at most 15 digits).
func integerField(_ key: String, in bytes: UnsafeRawBufferPointer) -> Int? {
  guard var index = fieldStart(key, in: bytes) else { return nil }
  var value = 0
  var digits = 0
  while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), digits < 15
  {
    value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
    index += 1
    digits += 1
  }
  return digits > 0 ? value : nil
}

/// The numeric value of `"key":x`, or nil.
func numberField(_ key: String, in bytes: UnsafeRawBufferPointer) -> Double? {
  guard var index = fieldStart(key, in: bytes) else { return nil }
  let begin = index
  while index < bytes.count, index - begin < 32,
    bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "-")
      || bytes[index] == UInt8(ascii: "e")
      || (bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9"))
  {
    index += 1
  }
  return Double(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[begin..<index]), as: UTF8.self))
}

/// An event's identity across sessions of the same audio: its type, label and sample positions.
func eventKey(_ type: String, _ bytes: UnsafeRawBufferPointer) -> String {
  let start = integerField("start_sample", in: bytes) ?? -1
  let end = integerField("end_sample", in: bytes) ?? -1
  return "\(type) \(stringField("label", in: bytes) ?? "") \(start) \(end)"
}

/// A run that cannot go on (one line).
struct LoadError: Error, CustomStringConvertible {
  let description: String
}
