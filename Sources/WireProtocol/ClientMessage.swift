import ModelIO
import Pipeline

/// The sample encodings a client may send in binary messages.
public enum SampleEncoding: String, Sendable, CaseIterable {
  /// Signed 16-bit little-endian PCM, full scale ±32768.
  case pcmS16LE = "pcm_s16le"
  /// 32-bit little-endian IEEE floats, full scale ±1.
  case pcmF32LE = "pcm_f32le"

  /// Bytes per sample.
  public var bytesPerSample: Int { self == .pcmS16LE ? 2 : 4 }
}

/// What a session sends back besides `ready`, errors and `stats`.
public enum OutputSelection: String, Sendable, CaseIterable {
  /// Segment, start and discard events only.
  case events
  /// Per-frame outputs (`frames` messages) as well as events.
  case frames
  /// Nothing until `stats`.
  case none
}

/// A session's `config` message, checked: every field of the right type and in range, defaults
/// for the fields left out (unknown fields are ignored, for forward compatibility).
public struct SessionConfig: Sendable, Equatable {
  /// The served model's name; nil: the first served model.
  public var model: String?
  /// The client's sample rate, Hz (1,000 to 384,000).
  public var sampleRate = 16_000
  /// How binary messages encode samples.
  public var encoding = SampleEncoding.pcmS16LE
  /// What the server sends.
  public var outputs = OutputSelection.events
  /// Speech segment parameters (`--segments`' names and defaults).
  public var segments = SegmentParameters()
  /// The output carrying the speech probability (`segments.speech_label`; default "speech").
  public var speechLabel = "speech"
  /// Per-label onset/offset events (`--events`' parameters), when the config has an `events`
  /// object; nil: none.
  public var events: EventParameters?
  /// The session id the client asked for (1 to 128 printable ASCII characters), or nil.
  public var session: String?

  /// The defaults.
  public init() {}

  /// The accepted client sample rates, Hz.
  public static let sampleRates = 1_000...384_000
}

/// A text message from a client.
public enum ClientMessage: Sendable, Equatable {
  /// Opens the session.
  case config(SessionConfig)
  /// Zeros the session's state at the next frame boundary.
  case reset
  /// No more audio: flush, send `stats`, close.
  case eof
}

/// Why a client message was refused: one printable line (at most ~200 characters), never the raw
/// bytes.
public struct ProtocolError: Error, Equatable, CustomStringConvertible, Sendable {
  /// The line.
  public let description: String

  /// An error with this text (made printable and bounded).
  public init(_ text: String) { description = printable(text, limit: 200) }
}

extension ClientMessage {
  /// The longest text message accepted, bytes (a config is a few hundred).
  public static let maximumTextBytes = 65_536

  /// Parses one text message.
  /// - Throws: ``ProtocolError`` naming the field, its (bounded) value and what is allowed.
  public static func parse(_ bytes: some Collection<UInt8>) throws(ProtocolError) -> ClientMessage {
    guard bytes.count <= maximumTextBytes else {
      throw ProtocolError("a text message of \(bytes.count) bytes (at most \(maximumTextBytes))")
    }
    guard let value = JSONValue.parse(bytes) else { throw ProtocolError("a text message that is not JSON") }
    guard let object = value.object else { throw ProtocolError("a text message that is not a JSON object") }
    guard let type = object["type"] else { throw ProtocolError("a message without \"type\"") }
    guard let name = type.string else { throw ProtocolError("\"type\" must be a string") }
    switch name {
    case "config": return .config(try parseConfig(object))
    case "reset": return .reset
    case "eof": return .eof
    default: throw ProtocolError("unknown message type \"\(printable(name))\" (config, reset, eof)")
    }
  }

  private static func parseConfig(_ object: [String: JSONValue]) throws(ProtocolError) -> SessionConfig {
    var config = SessionConfig()
    if let value = object["model"] {
      guard let model = value.string else { throw ProtocolError("\"model\" must be a string") }
      config.model = model
    }
    if let value = object["sample_rate"] {
      guard let rate = value.integer, SessionConfig.sampleRates.contains(rate) else {
        throw ProtocolError(
          "\"sample_rate\" \(describe(value)) is not allowed (an integer from 1000 to 384000 Hz)")
      }
      config.sampleRate = rate
    }
    if let value = object["encoding"] {
      guard let name = value.string, let encoding = SampleEncoding(rawValue: name) else {
        throw ProtocolError("\"encoding\" \(describe(value)) is not allowed (pcm_s16le or pcm_f32le)")
      }
      config.encoding = encoding
    }
    if let value = object["outputs"] {
      guard let name = value.string, let outputs = OutputSelection(rawValue: name) else {
        throw ProtocolError("\"outputs\" \(describe(value)) is not allowed (events, frames or none)")
      }
      config.outputs = outputs
    }
    if let value = object["session"] {
      guard let id = value.string, (1...128).contains(id.utf8.count),
        id.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
      else {
        throw ProtocolError(
          "\"session\" \(describe(value)) is not allowed (1 to 128 printable ASCII characters)")
      }
      config.session = id
    }
    if let value = object["segments"] {
      guard let segments = value.object else { throw ProtocolError("\"segments\" must be an object") }
      try parseSegments(segments, into: &config)
    }
    if let value = object["events"] {
      guard let events = value.object else { throw ProtocolError("\"events\" must be an object") }
      config.events = try parseEvents(events)
    }
    return config
  }

  /// `events`: `--events`' parameters. `threshold` and `off_threshold` are a number (every label)
  /// or an object of numbers by label; `median_frames` an odd integer 1 to 255; `min_event_ms`
  /// and `min_gap_ms` 0 to 3600000; `labels` a list of output names. Labels are checked against
  /// the model when the session opens.
  private static func parseEvents(_ object: [String: JSONValue]) throws(ProtocolError) -> EventParameters {
    var parameters = EventParameters()
    func fail(_ key: String, _ value: JSONValue, _ allowed: String) -> ProtocolError {
      ProtocolError("\"events.\(key)\" \(describe(value)) is not allowed (\(allowed))")
    }
    func probability(_ key: String, _ value: JSONValue) throws(ProtocolError) -> Float {
      guard let number = value.number, number.isFinite, (0...1).contains(number) else {
        throw fail(key, value, "0 to 1, or an object of such numbers by label")
      }
      return Float(number)
    }
    func thresholds(_ key: String) throws(ProtocolError) -> (Float?, [String: Float]) {
      guard let value = object[key] else { return (nil, [:]) }
      if let map = value.object {
        guard map.count <= 4096 else { throw fail(key, value, "at most 4096 labels") }
        var result: [String: Float] = [:]
        for (label, item) in map { result[label] = try probability(key, item) }
        return (nil, result)
      }
      return (try probability(key, value), [:])
    }
    let (on, onByLabel) = try thresholds("threshold")
    let (off, offByLabel) = try thresholds("off_threshold")
    if let on { parameters.threshold = on }
    parameters.offThreshold = off
    parameters.labelThresholds = onByLabel
    parameters.labelOffThresholds = offByLabel
    if let value = object["median_frames"] {
      guard let frames = value.integer, (1...255).contains(frames), frames % 2 == 1 else {
        throw fail("median_frames", value, "an odd integer from 1 to 255")
      }
      parameters.medianFrames = frames
    }
    for (key, path) in [("min_event_ms", \EventParameters.minEventSeconds), ("min_gap_ms", \.minGapSeconds)] {
      guard let value = object[key] else { continue }
      guard let number = value.number, number.isFinite, (0...3_600_000).contains(number) else {
        throw fail(key, value, "0 to 3600000")
      }
      parameters[keyPath: path] = number / 1000
    }
    if let value = object["labels"] {
      guard let list = value.array, list.count <= 4096, list.allSatisfy({ $0.string != nil }) else {
        throw fail("labels", value, "a list of output names")
      }
      parameters.labels = list.compactMap(\.string)
    }
    return parameters
  }

  /// `segments`: silero-vad's names, as `--segments` takes them.
  private static func parseSegments(_ object: [String: JSONValue], into config: inout SessionConfig)
    throws(ProtocolError)
  {
    func number(_ key: String, _ range: ClosedRange<Double>, _ allowed: String) throws(ProtocolError)
      -> Double?
    {
      guard let value = object[key] else { return nil }
      guard let number = value.number, number.isFinite, range.contains(number) else {
        throw ProtocolError("\"segments.\(key)\" \(describe(value)) is not allowed (\(allowed))")
      }
      return number
    }
    var parameters = SegmentParameters()
    if let threshold = try number("threshold", 0...1, "0 to 1") { parameters.threshold = Float(threshold) }
    if let negative = try number("neg_threshold", 0...Double(parameters.threshold), "0 to the threshold") {
      parameters.negativeThreshold = Float(negative)
    }
    if let value = try number("min_speech_duration_ms", 0...3_600_000, "0 to 3600000") {
      parameters.minSpeechMs = value
    }
    if let value = try number("min_silence_duration_ms", 0...3_600_000, "0 to 3600000") {
      parameters.minSilenceMs = value
    }
    if let value = try number("speech_pad_ms", 0...60_000, "0 to 60000") { parameters.speechPadMs = value }
    if let value = try number(
      "max_speech_duration_s", 0...86_400, "at most 86400, more than a frame plus twice the padding")
    {
      parameters.maxSpeechSeconds = value
    }
    if let value = object["speech_label"] {
      guard let label = value.string, (1...128).contains(label.utf8.count) else {
        throw ProtocolError("\"segments.speech_label\" \(describe(value)) is not allowed (a label name)")
      }
      config.speechLabel = label
    }
    config.segments = parameters
  }

  /// A value as it may appear in an error line: bounded, printable.
  static func describe(_ value: JSONValue) -> String {
    printable(String(decoding: value.encoded(), as: UTF8.self), limit: 60)
  }
}
