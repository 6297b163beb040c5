import AudioFile
import BundledModels
import Foundation
import Glibc
import HTTPTypes
import HummingbirdWSClient
import Layers
import Logging
import ModelIO
import NIOCore
import NIOWebSocket
import Pipeline
import Replay
import Server
import StreamCore
import Synchronization
import Testing
import WireProtocol

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
  .standardized.path
let demoSpeech = root + "/Sources/CBundledModels/demo_speech_16k.wav"

/// A server on a free loopback port, run in a task; ``stop()`` drains it.
struct RunningServer {
  let server: StreamServer
  let port: Int
  let task: Task<Void, any Error>

  static func start(_ configure: (inout ServerOptions) -> Void = { _ in }) async throws -> RunningServer {
    var options = ServerOptions()
    options.port = 0
    options.threads = 1
    options.maxSessions = 8
    options.drainSeconds = 2
    configure(&options)
    let vad = try BundledModels.sileroVAD()
    let chain = try LayerChain(
      layers: [.recurrent(vad.model)], headActivation: vad.model.head?.activation ?? .none,
      labels: vad.model.head?.labels, kernel: vad.model.kernel)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let server = try StreamServer(
      models: [ServedModel(name: "silero_vad", chain: chain, features: vad.features)], options: options,
      logger: logger)
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let task = Task { try await server.run { continuation.yield($0) } }
    var iterator = ports.makeAsyncIterator()
    let port = try #require(await iterator.next())
    return RunningServer(server: server, port: port, task: task)
  }

  var url: String { "ws://127.0.0.1:\(port)/v1/stream" }

  func stop() async {
    await server.shutdown()
    _ = try? await task.value
  }
}

/// Whether AddressSanitizer or ThreadSanitizer runs in this process (`make asan`, `make tsan`).
let underSanitizer = dlsym(nil, "__tsan_init") != nil || dlsym(nil, "__asan_init") != nil

/// What a client saw: every text message (parsed) and the close code.
struct Transcript {
  var messages: [[String: Any]] = []
  var closeCode: WebSocketErrorCode?

  func of(type: String) -> [[String: Any]] { messages.filter { $0["type"] as? String == type } }
  var frames: [[Float]] {
    of(type: "frames").flatMap { ($0["outputs"] as? [[Any]] ?? []).map { $0.map { Float("\($0)") ?? .nan } } }
  }
}

/// Sends `messages` (text or binary), then reads until the server closes.
func converse(
  _ url: String, headers: [String: String] = [:],
  _ script: @escaping @Sendable (WebSocketOutboundWriter) async throws -> Void
) async throws -> Transcript {
  var fields = HTTPFields()
  for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
  let collected = Mutex<[String]>([])
  var logger = Logger(label: "client")
  logger.logLevel = .critical
  let close = try await WebSocketClient.connect(
    url: url, configuration: .init(maxFrameSize: 1 << 16, additionalHeaders: fields), logger: logger
  ) { inbound, outbound, _ in
    let sender = Task { try await script(outbound) }
    do {
      for try await message in inbound.messages(maxSize: 1 << 24) {
        if case .text(let text) = message { collected.withLock { $0.append(text) } }
      }
    } catch {}
    // Not awaited: a write the server will never read (a refused 100 MB message) may stay
    // suspended until the connection is torn down; cancelling is enough.
    sender.cancel()
  }
  var transcript = Transcript()
  transcript.closeCode = close?.closeCode
  for text in collected.withLock({ $0 }) {
    transcript.messages.append(
      try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:])
  }
  return transcript
}

/// The WAV's 16-bit samples as little-endian bytes.
func pcmBytes(_ path: String) throws -> [UInt8] {
  let samples = try MonoAudioStream(path: path, outputRate: 16000).readAll()
  var bytes: [UInt8] = []
  bytes.reserveCapacity(samples.count * 2)
  for sample in samples {
    let value = UInt16(bitPattern: Int16((sample * 32768).rounded()))
    bytes.append(UInt8(value & 0xFF))
    bytes.append(UInt8(value >> 8))
  }
  return bytes
}

/// Keeps a single stream's records and events.
final class Recorder: EventSink {
  var outputs: [[Float]] = []
  var events: [StreamEvent] = []
  func write(_ record: FrameRecord) throws { outputs.append(Array(record.outputs)) }
  func write(_ event: StreamEvent) throws { events.append(event) }
  func finish() throws {}
}

/// The events as the wire writes them.
func wireEvents(_ events: [StreamEvent]) -> [String] {
  events.map { ServerMessage.event($0, rate: 16000) }
}

/// The transcript's events, re-encoded the same way for comparison.
func transcriptEvents(_ transcript: Transcript) -> [String] {
  transcript.messages.compactMap { message -> String? in
    switch message["type"] as? String {
    case "start":
      return ServerMessage.event(.speechStart(sample: message["start_sample"] as! Int), rate: 16000)
    case "discard":
      return ServerMessage.event(.speechDiscarded(sample: message["start_sample"] as! Int), rate: 16000)
    case "segment":
      return ServerMessage.event(
        .speechSegment(start: message["start_sample"] as! Int, end: message["end_sample"] as! Int),
        rate: 16000)
    default: return nil
    }
  }
}

/// Sends `bytes` in messages of random whole-sample sizes (1 to 4,000 samples), with `pause`
/// after each when given.
func sendInPieces(
  _ bytes: [UInt8], _ outbound: WebSocketOutboundWriter, seed: UInt64, pause: Duration? = nil
) async throws {
  var random = seed
  var position = 0
  while position < bytes.count {
    random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    let samples = 1 + Int((random >> 33) % 4000)
    let end = min(bytes.count, position + 2 * samples)
    try await outbound.write(.binary(ByteBuffer(bytes: bytes[position..<end])))
    position = end
    if let pause { try await Task.sleep(for: pause) }
  }
}

@Suite("streamrnn serve: the WebSocket protocol", .serialized, .timeLimit(.minutes(2)))
struct ServerTests {
  @Test func framesAndEventsEqualASingleReplay() async throws {
    let vad = try BundledModels.sileroVAD()
    let solo = Recorder()
    let runner = try StreamRunner(
      model: vad.model, features: vad.features, sink: solo, observers: [SegmentObserver()])
    _ = try runner.run(source: try ReplaySource(path: demoSpeech, sampleRate: 16000, pace: .max))
    let running = try await RunningServer.start()
    let bytes = try pcmBytes(demoSpeech)
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\",\"outputs\":\"frames\",\"future_field\":[1,2]}"))
      try await sendInPieces(bytes, outbound, seed: 3)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    await running.stop()
    let ready = try #require(transcript.of(type: "ready").first)
    #expect(ready["model"] as? String == "silero_vad" && ready["frame_seconds"] as? Double == 0.032)
    #expect(ready["labels"] as? [String] == ["speech"] && ready["lookahead_frames"] as? Int == 0)
    #expect(transcript.frames == solo.outputs, "every frame's outputs equal the single stream's")
    #expect(transcriptEvents(transcript) == wireEvents(solo.events))
    #expect(solo.events.count >= 4)
    let stats = try #require(transcript.of(type: "stats").first)
    #expect(stats["frames"] as? Int == solo.outputs.count && stats["dropped"] as? Int == 0)
    #expect(transcript.closeCode == .normalClosure)
    // Frame messages cover consecutive frames from 0.
    var next = 0
    for message in transcript.of(type: "frames") {
      #expect(message["start_frame"] as? Int == next)
      next += (message["outputs"] as? [Any])?.count ?? 0
    }
  }

  @Test func labelEventsEqualASingleReplay() async throws {
    var parameters = EventParameters()
    parameters.labelThresholds = ["speech": 0.6]
    parameters.offThreshold = 0.3
    parameters.medianFrames = 3
    parameters.minGapSeconds = 0.1
    let vad = try BundledModels.sileroVAD()
    let solo = Recorder()
    let runner = try StreamRunner(
      model: vad.model, features: vad.features, sink: solo, observers: [EventObserver(parameters: parameters)]
    )
    _ = try runner.run(source: try ReplaySource(path: demoSpeech, sampleRate: 16000, pace: .max))
    let running = try await RunningServer.start()
    let bytes = try pcmBytes(demoSpeech)
    let config =
      #"{"type":"config","events":{"threshold":{"speech":0.6},"off_threshold":0.3,"median_frames":3,"min_gap_ms":100}}"#
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text(config))
      try await sendInPieces(bytes, outbound, seed: 7)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    let refused = try await converse(running.url) { outbound in
      try await outbound.write(.text(#"{"type":"config","events":{"labels":["dog"]}}"#))
    }
    await running.stop()
    let expected = solo.events.filter {
      if case .onset = $0 { return true }
      if case .offset = $0 { return true }
      return false
    }.map { ServerMessage.event($0, rate: 16000, quotedLabels: ["\"speech\""]) }
    #expect(expected.count >= 8)
    let received = transcript.messages.compactMap { message -> String? in
      guard let type = message["type"] as? String, type == "onset" || type == "offset" else { return nil }
      #expect(message["label"] as? String == "speech")
      let (frame, time) = (message["frame"] as! Int, message["time"] as! Double)
      let event: StreamEvent =
        type == "onset"
        ? .onset(label: 0, frame: frame, time: time)
        : .offset(label: 0, frame: frame, time: time, duration: message["duration"] as! Double)
      return ServerMessage.event(event, rate: 16000, quotedLabels: ["\"speech\""])
    }
    #expect(received == expected)
    #expect(transcript.closeCode == .normalClosure)
    let error = try #require(refused.of(type: "error").first?["message"] as? String)
    #expect(error.contains("no output labelled 'dog'") && refused.closeCode == .unacceptableData)
  }

  @Test func resetEndsTheOpenSegmentAtTheNextFrameBoundary() async throws {
    let running = try await RunningServer.start()
    let bytes = try pcmBytes(demoSpeech)
    // 3.0 s is inside the segment 1.954–3.87 s; the frame being assembled ends at 94 × 512.
    let cut = 48_000 * 2
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\",\"outputs\":\"frames\"}"))
      try await sendInPieces(Array(bytes[..<cut]), outbound, seed: 5)
      try await outbound.write(.text("{\"type\":\"reset\"}"))
      try await sendInPieces(Array(bytes[cut...]), outbound, seed: 6)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    await running.stop()
    let segments = transcript.of(type: "segment")
    #expect(segments.contains { $0["end_sample"] as? Int == 94 * 512 }, "the open segment ends at the reset")
    #expect(transcript.frames.count == 287, "frame numbering goes on")
    #expect(transcript.closeCode == .normalClosure)
  }

  /// Audio pushed on the event loop (``AudioFastPath``) keeps its place around the client's other
  /// messages: with resets between random-sized pieces, every frame and event equals a server
  /// whose audio all goes through the connection's tasks — and most messages took the fast path.
  @Test func theFastPathKeepsTheOrderOfAudioAndResets() async throws {
    let bytes = try pcmBytes(demoSpeech)
    let cuts = [0, 20_000, 48_000, 48_100, 70_000, bytes.count / 2].map { $0 * 2 }
    func run(fastPath: Bool) async throws -> (Transcript, String) {
      let running = try await RunningServer.start { $0.audioFastPath = fastPath }
      let transcript = try await converse(running.url) { outbound in
        try await outbound.write(.text("{\"type\":\"config\",\"outputs\":\"frames\"}"))
        for (index, start) in cuts.dropLast().enumerated() {
          if index > 0 { try await outbound.write(.text("{\"type\":\"reset\"}")) }
          // (Paced a little, as a live client is: the fast path arms between messages.)
          try await sendInPieces(
            Array(bytes[start..<cuts[index + 1]]), outbound, seed: UInt64(index + 11),
            pause: .milliseconds(20))
        }
        try await outbound.write(.text("{\"type\":\"eof\"}"))
      }
      let metrics = try await httpGet(running.port, "/metrics")
      await running.stop()
      return (transcript, metrics)
    }
    let (fast, fastMetrics) = try await run(fastPath: true)
    let (slow, slowMetrics) = try await run(fastPath: false)
    #expect(fast.frames.count == slow.frames.count && fast.frames.count > 200)
    #expect(fast.frames == slow.frames, "every frame's outputs equal the slow path's")
    #expect(transcriptEvents(fast) == transcriptEvents(slow))
    #expect(fast.of(type: "segment").count >= 3)
    #expect(fast.closeCode == .normalClosure)
    func fastMessages(_ text: String) -> Int {
      text.split(separator: "\n").first { $0.hasPrefix("streamrnn_fast_path_messages_total ") }
        .flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }
    #expect(fastMessages(slowMetrics) == 0)
    // About 75 pieces of 1–4,000 samples: most come while the fast path is armed (all but the
    // first after the config and after each reset: 71 in a quiet debug run); the bound leaves room
    // for a machine loaded by the other suites.
    #expect(fastMessages(fastMetrics) > 10, "\(fastMessages(fastMetrics)) messages took the fast path")
  }

  /// With `--max-message-bytes` under the fast path's 8 KiB, a message over the limit is still
  /// refused (1009) once the session streams, not pushed on the event loop.
  @Test func aMessageOverTheLimitIsRefusedWhileTheFastPathIsArmed() async throws {
    let running = try await RunningServer.start { $0.maxMessageBytes = 2048 }
    let bytes = try pcmBytes(demoSpeech)
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\",\"outputs\":\"frames\"}"))
      for start in stride(from: 0, to: 40 * 640, by: 640) {
        try await outbound.write(.binary(ByteBuffer(bytes: bytes[start..<(start + 640)])))
        try await Task.sleep(for: .milliseconds(20))
      }
      try await outbound.write(.binary(ByteBuffer(bytes: bytes[0..<4096])))
      try? await Task.sleep(for: .seconds(5))
    }
    let metrics = try await httpGet(running.port, "/metrics")
    await running.stop()
    #expect(transcript.closeCode == .messageTooLarge)
    #expect(transcript.of(type: "error").first?["message"] as? String != nil)
    let taken = metrics.split(separator: "\n").first { $0.hasPrefix("streamrnn_fast_path_messages_total ") }
    #expect(taken.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "armed first")
  }

  @Test func protocolErrorsGetOneLineAndTheirCloseCode() async throws {
    let running = try await RunningServer.start { $0.maxMessageBytes = 65_536 }
    let cases: [(String, [UInt8]?, WebSocketErrorCode, String)] = [
      ("{\"type\":\"config\",\"model\":\"nope\"}", nil, .unacceptableData, "unknown model"),
      ("{\"type\":\"config\",\"sample_rate\":0}", nil, .unacceptableData, "sample_rate"),
      ("{\"type\":\"config\",\"sample_rate\":1000000000}", nil, .unacceptableData, "sample_rate"),
      ("{\"type\":\"config\",\"sample_rate\":\"16000\"}", nil, .unacceptableData, "sample_rate"),
      ("{\"type\":\"config\",\"encoding\":\"mp3\"}", nil, .unacceptableData, "encoding"),
      ("{\"type\":\"hello\"}", nil, .unacceptableData, "unknown message type"),
      ("not json", nil, .unacceptableData, "not JSON"),
      ("", [1, 2, 3, 4], .unacceptableData, "before config"),
      ("{\"type\":\"config\"}", [1, 2, 3], .unacceptableData, "whole number"),
      ("{\"type\":\"config\"}", [UInt8](repeating: 0, count: 100_000), .messageTooLarge, "max-message-bytes"),
    ]
    for (text, binary, code, words) in cases {
      let transcript = try await converse(running.url) { outbound in
        if !text.isEmpty { try await outbound.write(.text(text)) }
        if let binary { try await outbound.write(.binary(ByteBuffer(bytes: binary))) }
        try? await Task.sleep(for: .seconds(5))
      }
      #expect(transcript.closeCode == code, "\(text): \(String(describing: transcript.closeCode))")
      let message = transcript.of(type: "error").first?["message"] as? String ?? ""
      #expect(message.contains(words), "\(text): \(message)")
      #expect(!message.contains("\n") && message.count <= 201)
    }
    let metrics = try await httpGet(running.port, "/metrics")
    #expect(metrics.contains("streamrnn_rejected_connections_total{reason=\"bad_config\"} 5"))
    #expect(metrics.contains("streamrnn_rejected_connections_total{reason=\"message_too_large\"} 1"))
    await running.stop()
  }

  @Test func aHundredMegabyteMessageIsRefusedAndTheServerGoesOn() async throws {
    let running = try await RunningServer.start()
    let huge = [UInt8](repeating: 0, count: 100 << 20)
    let refused = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await outbound.write(.binary(ByteBuffer(bytes: huge)))
    }
    #expect(refused.closeCode == .messageTooLarge)
    let next = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 0, count: 1024))))
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    #expect(next.closeCode == .normalClosure && next.of(type: "stats").first?["frames"] as? Int == 1)
    await running.stop()
  }

  @Test func twentyThousandTinyMessagesLoseNothing() async throws {
    let running = try await RunningServer.start()
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\",\"outputs\":\"frames\"}"))
      for index in 0..<20_000 {
        try await outbound.write(.binary(ByteBuffer(bytes: [UInt8(index & 0xFF), 0])))
      }
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    #expect(transcript.closeCode == .normalClosure)
    #expect(transcript.frames.count == 40 && transcript.of(type: "stats").first?["frames"] as? Int == 40)
    await running.stop()
  }

  @Test func aReaderThatFallsBehindIsCutOffOnce() async throws {
    let (events, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
    let sink = WireSink(events: continuation, outputs: .events, metrics: ServerMetrics(), limit: 16)
    try sink.begin(
      StreamDescription(
        sampleRate: 16000, hopLength: 512, outputCount: 1, labels: nil, independentProbabilities: true))
    for sample in 0..<40 { try sink.write(StreamEvent.speechStart(sample: sample)) }
    try sink.finish()
    continuation.finish()
    var outbound = 0
    var overflows = 0
    var ended = 0
    for await event in events {
      switch event {
      case .outbound: outbound += 1
      case .overflow: overflows += 1
      case .sessionEnded: ended += 1
      default: break
      }
    }
    #expect(outbound == 16 && overflows == 1 && ended == 1, "16 queued, then one overflow, the rest dropped")
  }

  @Test func tokensAreCheckedAtTheHandshake() async throws {
    let running = try await RunningServer.start { $0.tokens = ["secret-one", "secret-two"] }
    let eof: @Sendable (WebSocketOutboundWriter) async throws -> Void = { outbound in
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    await #expect(throws: (any Error).self) { _ = try await converse(running.url, eof) }
    await #expect(throws: (any Error).self) {
      _ = try await converse(running.url, headers: ["Authorization": "Bearer secret-on"], eof)
    }
    let accepted = try await converse(running.url, headers: ["Authorization": "Bearer secret-two"], eof)
    #expect(accepted.closeCode == .normalClosure && accepted.of(type: "stats").count == 1)
    #expect(try await httpGet(running.port, "/healthz") == "ok\n", "health needs no token")
    let metrics = try await httpGet(running.port, "/metrics")
    #expect(metrics.contains("streamrnn_rejected_connections_total{reason=\"unauthorized\"} 2"))
    await running.stop()
  }

  @Test func sessionsBeyondTheLimitAreRefusedAndTheOthersGoOn() async throws {
    let running = try await RunningServer.start { $0.maxSessions = 2 }
    let bytes = try pcmBytes(demoSpeech)
    async let first = converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await Task.sleep(for: .milliseconds(3000))
      try await sendInPieces(bytes, outbound, seed: 1)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    async let second = converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await Task.sleep(for: .milliseconds(3000))
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    // The third connects once both are in (however slowly a loaded machine gets them there).
    for _ in 0..<300 where running.server.openConnections < 2 { try await Task.sleep(for: .milliseconds(50)) }
    #expect(running.server.openConnections == 2)
    let third = try await converse(running.url) { _ in try await Task.sleep(for: .seconds(5)) }
    #expect(third.closeCode == .policyViolation)
    #expect((third.of(type: "error").first?["message"] as? String)?.contains("too many sessions") == true)
    let (one, two) = try await (first, second)
    #expect(one.closeCode == .normalClosure && one.of(type: "segment").count >= 4)
    #expect(two.closeCode == .normalClosure)
    await running.stop()
  }

  /// 64 sessions that each stream a second of audio and stay open: resident memory grows by less
  /// than 272 KB a session, server and test client together, in a debug build. Measured on
  /// 2026-12-04: 207–233 KB; with the library's input queue of 32,768 floats instead of the
  /// server's 8,192, 295 KB. (A full-size latency histogram per session took another 213 KB: the
  /// release server at 1,000 sessions went from 460 to 247 MB resident without it.)
  @Test(.disabled(if: underSanitizer, "a sanitizer's shadow memory inflates resident sizes"))
  func anOpenSessionCostsLittleMemory() async throws {
    let sessions = 64
    let running = try await RunningServer.start { $0.maxSessions = sessions }
    let second = Array(try pcmBytes(demoSpeech).prefix(32_000))
    final class Progress: Sendable {
      let release = Atomic<Bool>(false)
      let streamed = Atomic<Int>(0)
    }
    let progress = Progress()
    let url = running.url
    func residentBytes() throws -> Int {
      let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
      return try #require(fields.count > 1 ? Int(fields[1]) : nil) * 4096
    }
    // One warm-up session first (the engine's and the server's one-time allocations).
    _ = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await sendInPieces(second, outbound, seed: 9)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    let before = try residentBytes()
    try await withThrowingTaskGroup(of: (WebSocketErrorCode?, Int).self) { group in
      for index in 0..<sessions {
        group.addTask {
          let transcript = try await converse(url) { outbound in
            try await outbound.write(.text("{\"type\":\"config\"}"))
            try await sendInPieces(second, outbound, seed: UInt64(index))
            progress.streamed.add(1, ordering: .relaxed)
            while !progress.release.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(20)) }
            try await outbound.write(.text("{\"type\":\"eof\"}"))
          }
          return (transcript.closeCode, transcript.of(type: "stats").first?["frames"] as? Int ?? 0)
        }
      }
      for _ in 0..<1200 where progress.streamed.load(ordering: .relaxed) < sessions {
        try await Task.sleep(for: .milliseconds(50))
      }
      try await Task.sleep(for: .milliseconds(500))
      #expect(progress.streamed.load(ordering: .relaxed) == sessions)
      #expect(running.server.openConnections == sessions)
      let perSession = (try residentBytes() - before) / sessions
      #expect(perSession < 272 * 1024, "\(perSession) resident bytes per open session")
      progress.release.store(true, ordering: .relaxed)
      for try await (code, frames) in group {
        #expect(code == .normalClosure)
        #expect(frames >= 31)
      }
    }
    await running.stop()
  }

  /// A client that never reads (its receive buffer at the minimum, its socket never read after the
  /// handshake) streams audio as fast as the server takes it, with per-frame outputs, to a server
  /// whose send buffers are 4 KiB (`--send-buffer-bytes`, so that a debug build's results fill
  /// them in seconds): the server holds it back, ends the connection once a write has waited 5 s
  /// (the client's send fails), counts a slow reader, and a session running alongside gets all
  /// its results.
  @Test func aClientThatNeverReadsIsCutOffAndTheOthersGoOn() async throws {
    let running = try await RunningServer.start { $0.sendBufferBytes = 4096 }
    let bytes = try pcmBytes(demoSpeech)
    let port = running.port
    let silent = Task.detached { neverReadingClient(port: port, audio: bytes, seconds: 60) }
    let reference = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await sendInPieces(bytes, outbound, seed: 3)
      try await outbound.write(.text("{\"type\":\"eof\"}"))
    }
    #expect(reference.closeCode == .normalClosure && reference.of(type: "segment").count >= 4)
    let outcome = await silent.value
    #expect(outcome.handshake, "the handshake succeeded")
    #expect(outcome.cutOff, "the server closed the connection (sent \(outcome.sentBytes) bytes)")
    let metrics = try await httpGet(running.port, "/metrics")
    #expect(
      metrics.split(separator: "\n").contains {
        $0.hasPrefix("streamrnn_rejected_connections_total{reason=\"slow_reader\"} ") && !$0.hasSuffix(" 0")
      }, "counted as a slow reader")
    for _ in 0..<100 where running.server.openConnections > 0 { try await Task.sleep(for: .milliseconds(50)) }
    #expect(running.server.openConnections == 0)
    await running.stop()
  }

  @Test func anIdleSessionGetsItsStatsAndCloses() async throws {
    let running = try await RunningServer.start { $0.idleTimeout = 0.5 }
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 0, count: 3200))))
      try await Task.sleep(for: .seconds(10))
    }
    #expect(transcript.closeCode == .normalClosure)
    #expect(
      transcript.of(type: "stats").first?["frames"] as? Int == 4, "1,600 samples: 3 chunks + the padded rest")
    await running.stop()
  }

  /// TCP connections that never send a request, or stop halfway through their handshake, are
  /// closed after the idle timeout (they are not sessions, so nothing else would end them).
  @Test func connectionsThatNeverFinishAHandshakeAreClosedWhenIdle() async throws {
    let running = try await RunningServer.start { $0.idleTimeout = 0.5 }
    let port = running.port
    for partial in ["", "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"] {
      let closedAfter = await Task.detached { () -> Double? in
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        guard connectLoopback(descriptor, port: port) else { return nil }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(partial.utf8)
        if !bytes.isEmpty {
          _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        let start = ContinuousClock.now
        var byte: UInt8 = 0
        // Read until the server closes (0, or a reset); the receive timeout (EAGAIN) means it did
        // not close within 10 s.
        while true {
          let received = recv(descriptor, &byte, 1, 0)
          if received == 0 || (received < 0 && errno == ECONNRESET) { break }
          if received < 0 { return nil }
        }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      }.value
      let seconds = try #require(closedAfter, "\(partial.isEmpty ? "silent" : "half a request"): not closed")
      #expect(seconds < 5, "closed after \(seconds) s")
    }
    await running.stop()
  }

  @Test func aDrainRefusesNewSessionsAndClosesTheRestWith1001() async throws {
    let running = try await RunningServer.start { $0.drainSeconds = 1 }
    async let open = converse(running.url) { outbound in
      try await outbound.write(.text("{\"type\":\"config\"}"))
      try await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 0, count: 32_000))))
      try await Task.sleep(for: .seconds(20))
    }
    try await Task.sleep(for: .milliseconds(500))
    #expect(try await httpGet(running.port, "/readyz") == "ready\n")
    let stopping = Task { await running.stop() }
    try await Task.sleep(for: .milliseconds(300))
    #expect(try await httpStatus(running.port, "/readyz") == 503)
    let transcript = try await open
    #expect(transcript.closeCode == .goingAway)
    #expect(transcript.of(type: "stats").first?["frames"] as? Int == 32)
    await stopping.value
  }
}

/// Connects the TCP socket `descriptor` to 127.0.0.1:`port`; false when refused.
func connectLoopback(_ descriptor: Int32, port: Int) -> Bool {
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  return withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  } == 0
}

/// A plain HTTP/1.1 GET on loopback over a socket (`Connection: close`): (status, body).
func httpRequest(_ port: Int, _ path: String) throws -> (Int, String) {
  let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard descriptor >= 0 else { throw POSIXError(.EIO) }
  defer { close(descriptor) }
  guard connectLoopback(descriptor, port: port) else { throw POSIXError(.ECONNREFUSED) }
  var timeout = timeval(tv_sec: 5, tv_usec: 0)
  setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
  _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
  var response: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = recv(descriptor, &buffer, buffer.count, 0)
    if count <= 0 { break }
    response += buffer[0..<count]
  }
  let text = String(decoding: response, as: UTF8.self)
  let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
  let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
  return (status, body)
}

/// ``httpRequest(_:_:)`` on a thread of its own: a blocking read on one of Swift concurrency's few
/// threads could starve the server under test, whose handlers run on the same pool.
func httpOffPool(_ port: Int, _ path: String) async -> (Int, String) {
  await withCheckedContinuation { continuation in
    let thread = Thread { continuation.resume(returning: (try? httpRequest(port, path)) ?? (0, "")) }
    thread.start()
  }
}

/// The body of a GET that must answer 200.
func httpGet(_ port: Int, _ path: String) async throws -> String {
  let (status, body) = await httpOffPool(port, path)
  #expect(status == 200, "GET \(path)")
  return body
}

/// The status code of a GET.
func httpStatus(_ port: Int, _ path: String) async throws -> Int { await httpOffPool(port, path).0 }

/// What ``neverReadingClient(port:audio:seconds:)`` saw.
struct SilentClientOutcome: Sendable {
  var handshake = false
  /// The server closed the connection (a send failed with a reset or a broken pipe).
  var cutOff = false
  var sentBytes = 0
}

/// A blocking raw-socket WebSocket client that reads the handshake's answer and nothing more:
/// `config` with `outputs: frames`, then `audio` (16-bit PCM) looped in 4,000-byte messages as
/// fast as the server takes them, until a send fails or `seconds` pass. Its receive buffer is set
/// to the minimum before connecting, so the server's results pile up on the server's side.
func neverReadingClient(port: Int, audio: [UInt8], seconds: Double) -> SilentClientOutcome {
  var outcome = SilentClientOutcome()
  let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard socket >= 0 else { return outcome }
  defer { close(socket) }
  var small: Int32 = 1024
  setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
  var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
  setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  guard connectLoopback(socket, port: port) else { return outcome }
  /// Sends all of `bytes`; false when the connection failed. Gives up at `deadline` (true then).
  func sendAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) -> Bool {
    var offset = 0
    while offset < bytes.count {
      if ContinuousClock.now > deadline { return true }
      let sent = bytes[offset...].withUnsafeBytes {
        send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if sent > 0 {
        offset += sent
        outcome.sentBytes += sent
      } else if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
        continue
      } else {
        return false
      }
    }
    return true
  }
  /// A masked client frame (RFC 6455 §5.2) with a zero masking key.
  func frame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
    var header: [UInt8] = [0x80 | opcode]
    if payload.count < 126 {
      header.append(0x80 | UInt8(payload.count))
    } else {
      header += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    }
    return header + [0, 0, 0, 0] + payload
  }
  let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
  let request =
    "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    + "Sec-WebSocket-Key: c3RyZWFtcm5uLXRlc3Qta2V5\r\nSec-WebSocket-Version: 13\r\n\r\n"
  guard sendAll(Array(request.utf8), deadline: deadline) else { return outcome }
  var answer: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 512)
  while !answer.suffix(4).elementsEqual([13, 10, 13, 10]) {
    let count = recv(socket, &buffer, 1, 0)
    guard count == 1 else { return outcome }
    answer.append(buffer[0])
  }
  outcome.handshake = String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 101")
  guard outcome.handshake else { return outcome }
  guard
    sendAll(frame(opcode: 1, Array("{\"type\":\"config\",\"outputs\":\"frames\"}".utf8)), deadline: deadline)
  else { return outcome }
  var position = 0
  while ContinuousClock.now < deadline {
    var piece: [UInt8] = []
    while piece.count < 4000 {
      piece.append(audio[position])
      position = (position + 1) % (audio.count & ~1)
    }
    if !sendAll(frame(opcode: 2, piece), deadline: deadline) {
      outcome.cutOff = true
      return outcome
    }
  }
  return outcome
}
