import ModelIO
import Pipeline
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// Why a report could not be made from saved outputs: one line naming the file, line and field.
public struct ReportError: Error, Equatable, CustomStringConvertible {
  /// The line.
  public let description: String
  /// An error saying `description`.
  public init(_ description: String) { self.description = String(description.prefix(300)) }
}

/// The `"run"` object `--stats-json` writes beside the statistics, so that `streamrnn report` can
/// draw a saved run as the live run drew it: what ran, on what, where.
public struct ReportRun: Sendable {
  /// The model: a path, or the bundled model's name.
  public var model = ""
  /// The features, in words.
  public var features = ""
  /// The audio: a file path or a capture device.
  public var source = ""
  /// The machine, in words.
  public var machine = ""
  /// Audio rate of the features, Hz.
  public var sampleRate = 16000
  /// Seconds between records (the features' hop times the model's output interval).
  public var frameSeconds = 0.032
  /// Seconds between input frames (record and reset frame numbers count these).
  public var inputFrameSeconds = 0.032
  /// The outputs' names.
  public var labels: [String] = []
  /// The output speech segments belong to.
  public var speechLabel = "speech"
  /// Threshold lines per label: (on, off).
  public var thresholds: [String: (on: Float, off: Float?)] = [:]

  /// An empty description.
  public init() {}

  /// As JSON.
  public var json: JSONValue {
    .object([
      "model": .string(model), "features": .string(features), "source": .string(source),
      "machine": .string(machine), "sample_rate": .number(Double(sampleRate)),
      "frame_seconds": .number(frameSeconds), "input_frame_seconds": .number(inputFrameSeconds),
      "labels": .array(labels.map { .string($0) }), "speech_label": .string(speechLabel),
      "thresholds": .object(
        thresholds.mapValues {
          .array([.number(decimal($0.on))] + ($0.off.map { [.number(decimal($0))] } ?? []))
        }),
    ])
  }

  /// Reads the object back; every field is checked (type and range) and optional.
  public init(json: JSONValue?) throws(ReportError) {
    guard let json else { return }
    guard let object = json.object else { throw ReportError("\"run\" is not an object") }
    func text(_ key: String, _ limit: Int = 1000) throws(ReportError) -> String? {
      guard let value = object[key] else { return nil }
      guard let string = value.string else { throw ReportError("run.\(key) is not a string") }
      return String(string.prefix(limit))
    }
    func number(_ key: String, _ range: ClosedRange<Double>) throws(ReportError) -> Double? {
      guard let value = object[key] else { return nil }
      guard let number = value.number, number.isFinite, range.contains(number) else {
        throw ReportError("run.\(key) is not a number from \(range.lowerBound) to \(range.upperBound)")
      }
      return number
    }
    model = try text("model") ?? ""
    features = try text("features") ?? ""
    source = try text("source", 4096) ?? ""
    machine = try text("machine") ?? ""
    sampleRate = Int(try number("sample_rate", 1000...384_000) ?? 16000)
    frameSeconds = try number("frame_seconds", 1e-6...3600) ?? frameSeconds
    inputFrameSeconds = try number("input_frame_seconds", 1e-6...3600) ?? frameSeconds
    if let labels = object["labels"] {
      guard let array = labels.array, array.count <= 4096, array.allSatisfy({ $0.string != nil }) else {
        throw ReportError("run.labels is not a list of at most 4096 strings")
      }
      self.labels = array.compactMap(\.string)
    }
    speechLabel = try text("speech_label", 256) ?? speechLabel
    if let thresholds = object["thresholds"] {
      guard let map = thresholds.object, map.count <= 4096 else {
        throw ReportError("run.thresholds is not an object of at most 4096 labels")
      }
      for (label, value) in map {
        let values = value.array?.compactMap(\.number) ?? []
        guard (1...2).contains(values.count), values.count == value.array?.count,
          values.allSatisfy({ (0...1).contains($0) })
        else {
          throw ReportError("run.thresholds.\(label.prefix(64)) is not [on] or [on, off] between 0 and 1")
        }
        self.thresholds[label] = (Float(values[0]), values.count > 1 ? Float(values[1]) : nil)
      }
    }
  }
}

/// A float as the decimal people wrote (0.35, not 0.3499999940395355).
private func decimal(_ value: Float) -> Double { Double(String(value)) ?? Double(value) }

/// The report of a run from its statistics (`--stats-json`, with its `"run"` object) and a builder
/// that has seen its records (and its audio, if any). Live runs and `streamrnn report` both come
/// through here, so both draw the same.
/// - Throws: ``ReportError`` for a statistics value of the wrong type.
public func reportData(stats: JSONValue, builder: ReportBuilder, laneLimit: Int = 8) throws(ReportError)
  -> ReportData
{
  guard let object = stats.object else { throw ReportError("the statistics are not a JSON object") }
  let run = try ReportRun(json: object["run"])
  func count(_ key: String) -> String { object[key]?.number.map { fixed($0, 0) } ?? "–" }
  var summary: [ReportValue] = []
  if !run.model.isEmpty { summary.append(ReportValue(name: "model", text: run.model)) }
  if !run.features.isEmpty { summary.append(ReportValue(name: "features", text: run.features)) }
  if !run.source.isEmpty { summary.append(ReportValue(name: "audio", text: run.source)) }
  summary.append(
    ReportValue(
      name: "frames",
      text:
        "\(count("frames")) (dropped \(count("dropped")), xruns \(count("xruns")), discontinuities \(count("discontinuities")), resets \(count("resets")))"
    ))
  if let seconds = object["audio_seconds"]?.number, let speed = object["x_real_time"]?.number {
    summary.append(
      ReportValue(
        name: "speed",
        text: "\(fixed(seconds, 2)) s of audio, \(fixed(speed, 0)) x real time (features + steps)"))
  }
  if !run.machine.isEmpty { summary.append(ReportValue(name: "machine", text: run.machine)) }
  var histograms: [ReportHistogram] = []
  let bins = object["histograms"]?.object ?? [:]
  for (key, name) in [
    ("step", "step"), ("compute", "features + step"), ("capture_to_output", "capture to output"),
  ] {
    var histogram = ReportHistogram(name: name, bins: [], percentiles: [])
    for item in bins[key]?.array?.prefix(10_000) ?? [] {
      guard let values = item.array?.compactMap(\.number), values.count == 3, values.allSatisfy(\.isFinite),
        values[0] > 0, values[1] > values[0], values[2] >= 0, values[2] < 1e15
      else { throw ReportError("histograms.\(key) holds an item that is not [low_us, high_us, count]") }
      histogram.bins.append(
        LatencyBin(lowMicroseconds: values[0], highMicroseconds: values[1], count: Int(values[2])))
    }
    if let latency = object[key]?.object {
      for (field, label) in [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")] {
        if let value = latency[field]?.number, value.isFinite {
          histogram.percentiles.append(
            ReportValue(name: label, text: significant(value) + " µs", number: value))
        }
      }
    }
    histograms.append(histogram)
  }
  for frame in object["reset_frames"]?.array?.prefix(10_000) ?? [] {
    if let index = frame.number, index.isFinite, index >= 0 {
      builder.mark("reset", at: index * run.inputFrameSeconds)
    }
  }
  let title =
    "StreamRNN report"
    + (run.source.isEmpty
      ? "" : ": " + (run.source.split(separator: "/").last.map(String.init) ?? run.source))
  return builder.data(
    title: title, summary: summary, histograms: histograms, thresholds: run.thresholds, laneLimit: laneLimit)
}

/// Feeds saved JSON Lines records (`streamrnn replay --format jsonl`) to a ``ReportBuilder``, one
/// line at a time: frame records become lanes and marks, events become bands. The first record
/// names the outputs unless the run did (its `"labels"`); events with no frame record before them
/// (`--quiet`) need the run's labels, else they are skipped.
public struct RecordReader {
  let builder: ReportBuilder
  let run: ReportRun
  private var began = false
  private var lastTime: Double?
  private var names: [String] = []
  private var index: [String: Int] = [:]
  private var values: [Float] = []
  /// The longest line read, bytes (without its newline): 16 MiB.
  public static let maximumLineBytes = 16 << 20
  /// Lines read.
  public private(set) var lines = 0
  /// Frame records among them.
  public private(set) var frameRecords = 0

  /// A reader feeding `builder` for `run`.
  public init(builder: ReportBuilder, run: ReportRun) {
    self.builder = builder
    self.run = run
  }

  /// One line (without its newline); blank lines are skipped.
  /// - Throws: ``ReportError`` naming `file` and the line for anything that is not a record or an
  ///   event of the JSON Lines format.
  public mutating func read(_ line: some Collection<UInt8>, file: String) throws(ReportError) {
    lines += 1
    if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
    let lineNumber = lines
    func fail(_ why: String) -> ReportError { ReportError("\(file.suffix(200)):\(lineNumber): \(why)") }
    guard line.count <= Self.maximumLineBytes, let json = JSONValue.parse(line), let object = json.object
    else {
      throw fail("not a JSON object")
    }
    func number(_ key: String) throws(ReportError) -> Double {
      guard let value = object[key]?.number, value.isFinite, value >= 0, value <= 1e9 else {
        throw fail("\"\(key)\" is not a number from 0 to 1e9")
      }
      return value
    }
    func label() throws(ReportError) -> Int {
      guard let name = object["label"]?.string else { throw fail("\"label\" is not a string") }
      guard let position = index[name] else { throw fail("\"label\" names no output of the records") }
      return position
    }
    // Events before any frame record (`--quiet --segments`): the run's labels name the outputs.
    if !began && object["outputs"] == nil && !run.labels.isEmpty {
      try begin(.array(run.labels.map { _ in .number(0) }), time: 0, fail: fail)
    }
    if let kind = object["event"] {
      guard began else { return }
      switch kind.string {
      case "onset": builder.event(.onset(label: try label(), frame: 0, time: try number("time")))
      case "offset":
        builder.event(
          .offset(label: try label(), frame: 0, time: try number("time"), duration: try number("duration")))
      case "start", "discard": break
      default: throw fail("unknown event")
      }
    } else if object["end"] != nil {
      guard began else { return }
      let start = try number("start")
      builder.band(index[run.speechLabel] ?? 0, start, max(try number("end"), start))
    } else if let outputs = object["outputs"] {
      let time = try number("time")
      if !began { try begin(outputs, time: time, fail: fail) }
      values.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
      if let map = outputs.object {
        for (key, value) in map {
          if let position = index[key] { values[position] = Float(value.number ?? .nan) }
        }
      } else if let array = outputs.array, array.count == names.count {
        for (position, value) in array.enumerated() { values[position] = Float(value.number ?? .nan) }
      } else {
        throw fail("\"outputs\" is not the same object or list of \(names.count) as the first record's")
      }
      frameRecords += 1
      let discontinuity = object["discontinuity"]?.bool == true
      let builder = self.builder
      values.withUnsafeBufferPointer { builder.frame($0, time: time, discontinuity: discontinuity) }
      lastTime = time
    } else {
      throw fail("neither a frame record nor an event")
    }
  }

  private mutating func begin(_ outputs: JSONValue, time: Double, fail: (String) -> ReportError)
    throws(ReportError)
  {
    if let map = outputs.object {
      let keys = map.keys.sorted()
      names = !run.labels.isEmpty && Set(run.labels) == Set(keys) ? run.labels : keys
    } else if let array = outputs.array {
      names = run.labels.count == array.count ? run.labels : array.indices.map(String.init)
    } else {
      throw fail("\"outputs\" is neither an object nor a list")
    }
    guard names.count <= 4096 else { throw fail("more than 4096 outputs") }
    for (position, name) in names.enumerated() { index[name] = position }
    values = [Float](repeating: 0, count: names.count)
    builder.begin(names: names, secondsPerFrame: run.frameSeconds, speechLabel: run.speechLabel)
    began = true
  }
}
