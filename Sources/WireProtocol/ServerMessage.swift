import ModelIO
import Pipeline
import StreamCore

/// The server's text messages, written as JSON objects with a `type`. Times and sample positions
/// are in the model's rate and stream time with `streamrnn replay`'s rounding (seconds to 4
/// decimals for events), so the same audio gives the same values.
public enum ServerMessage {
  /// `{"type": "ready", "session", "model", "frame_seconds", "labels", "lookahead_frames"}`.
  public static func ready(
    session: String, model: String, frameSeconds: Double, labels: [String]?, lookaheadFrames: Int
  ) -> String {
    let labelList = labels.map { "[" + $0.map(jsonQuoted).joined(separator: ",") + "]" } ?? "null"
    return
      "{\"type\":\"ready\",\"session\":\(jsonQuoted(session)),\"model\":\(jsonQuoted(model)),\"frame_seconds\":\(rounded(frameSeconds, 6)),\"labels\":\(labelList),\"lookahead_frames\":\(lookaheadFrames)}"
  }

  /// An event as `{"type": "start" | "segment" | "discard", …}` with the CLI's fields and values
  /// (`rate`: the model's sample rate, Hz).
  public static func event(_ event: StreamEvent, rate: Int, quotedLabels: [String] = []) -> String {
    func seconds(_ sample: Int) -> String { rounded(Double(sample) / Double(rate), 4) }
    switch event {
    case .speechStart(let sample):
      return "{\"type\":\"start\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}"
    case .speechDiscarded(let sample):
      return "{\"type\":\"discard\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}"
    case .speechSegment(let start, let end):
      return
        "{\"type\":\"segment\",\"start\":\(seconds(start)),\"end\":\(seconds(end)),\"start_sample\":\(start),\"end_sample\":\(end)}"
    case .onset, .offset:
      return "{" + labelEventFields(event, quotedLabels: quotedLabels, kindKey: "type") + "}"
    }
  }

  /// `{"type": "stats", "frames", "dropped", "latency_us": {"p50", "p99", "max"}}` (latencies in
  /// µs, null when no frame was made).
  public static func stats(frames: Int, dropped: Int, latency: LatencySummary?) -> String {
    func value(_ number: Double?) -> String { number.map { rounded($0, 1) } ?? "null" }
    return
      "{\"type\":\"stats\",\"frames\":\(frames),\"dropped\":\(dropped),\"latency_us\":{\"p50\":\(value(latency?.p50)),\"p99\":\(value(latency?.p99)),\"max\":\(value(latency?.max))}}"
  }

  /// `{"type": "error", "message": "one line"}` (printable, at most ~200 characters).
  public static func error(_ message: String) -> String {
    "{\"type\":\"error\",\"message\":\(jsonQuoted(printable(message, limit: 200)))}"
  }
}

/// Collects per-frame outputs into `{"type": "frames", "start_frame": n, "outputs": [[p, …], …]}`
/// messages (floats as the CLI's JSON Lines writes them; NaN and infinities as null). Frames are
/// consecutive within a message: a gap in frame numbers starts a new one.
public struct FramesMessageBuilder {
  private var text: [UInt8] = []
  private var startFrame = 0
  private var nextFrame = 0
  /// Frames in the message being built.
  public private(set) var count = 0

  /// An empty builder.
  public init() { text.reserveCapacity(1024) }

  /// Adds one frame's outputs. Returns the previous message when this frame does not follow it.
  public mutating func add(frame: Int, outputs: UnsafeBufferPointer<Float>) -> String? {
    var finished: String?
    if count > 0 && frame != nextFrame { finished = take() }
    if count == 0 {
      startFrame = frame
      text.removeAll(keepingCapacity: true)
    }
    text.append(contentsOf: (count == 0 ? "[" : ",[").utf8)
    for index in outputs.indices {
      if index > 0 { text.append(UInt8(ascii: ",")) }
      let value = outputs[index]
      text.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
    }
    text.append(UInt8(ascii: "]"))
    count += 1
    nextFrame = frame + 1
    return finished
  }

  /// The message of the frames added since the last one, or nil when there are none.
  public mutating func take() -> String? {
    guard count > 0 else { return nil }
    count = 0
    return "{\"type\":\"frames\",\"start_frame\":\(startFrame),\"outputs\":["
      + String(decoding: text, as: UTF8.self)
      + "]}"
  }
}
