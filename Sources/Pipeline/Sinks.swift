import ModelIO
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// The record formats of ``makeSink(format:path:topThreshold:statusLine:)``.
public enum SinkFormat: String, Sendable, CaseIterable {
  /// JSON Lines: one object per frame, and events (``JSONLinesSink``).
  case jsonl
  /// CSV with a header row; no events (``CSVSink``).
  case csv
  /// `.npy` float32 `[frames, outputs]` written at the end; outputs only, no events (``NpySink``).
  case npy

  /// Whether this format can hold events as well as records.
  public var takesEvents: Bool { self == .jsonl }
}

/// Makes a sink for `format` writing to `path` (nil: standard output; not for npy). Nothing is
/// created until the stream begins; a file is written under a temporary name and moved into
/// place when the stream finishes.
/// - Parameters:
///   - topThreshold: For independent (sigmoid) outputs, the probability at which the largest
///     output is named `top`; below it `top` is null.
///   - statusLine: A terminal line that a progress display draws on; cleared before each line
///     written (give it when the records go to the same terminal).
/// - Throws: ``StreamError/sinkFailed(_:)`` when the file cannot be created.
public func makeSink(
  format: SinkFormat, path: String?, topThreshold: Float = 0.5, statusLine: TerminalStatusLine? = nil
) throws(StreamError) -> any FrameSink {
  switch format {
  case .npy:
    guard let path else { throw .sinkFailed("the npy format needs a file path (it is written at the end)") }
    return NpySink(path: path)
  case .jsonl:
    return JSONLinesSink(output: TextOutput(path: path, statusLine: statusLine), topThreshold: topThreshold)
  case .csv:
    return CSVSink(output: TextOutput(path: path, statusLine: statusLine), topThreshold: topThreshold)
  }
}

/// A text file or standard output written line by line through a reused buffer. A file is written
/// under a temporary name beside its path and renamed into place by ``close()``: an interrupted
/// run never leaves a truncated file at the path. Consumer thread only.
final class TextOutput {
  /// The path as given, or "standard output".
  let name: String
  let path: String?
  let temporary: String?
  let statusLine: TerminalStatusLine?
  private var file: UnsafeMutablePointer<FILE>?
  private var line: [UInt8] = []

  /// An output that opens at ``open()`` (a stream that fails before it starts leaves no file).
  init(path: String?, statusLine: TerminalStatusLine?) {
    self.path = path
    temporary = path.map { $0 + ".partial-\(getpid())" }
    name = path ?? "standard output"
    self.statusLine = statusLine
  }

  /// Creates the file (under its temporary name) or takes standard output.
  func open() throws(StreamError) {
    guard file == nil else { return }
    // Standard output gets a stream of its own over file descriptor 1 (not closed at the end).
    guard let file = temporary.map({ fopen($0, "w") }) ?? fdopen(STDOUT_FILENO, "w") else {
      throw .sinkFailed("\(name): cannot create: \(String(cString: strerror(errno)))")
    }
    self.file = file
    // Pipes and terminals get each line as it is written (live consumers react at once); regular
    // files keep full buffering.
    var status = stat()
    if fstat(fileno(file), &status) != 0 || (status.st_mode & S_IFMT) != S_IFREG {
      setvbuf(file, nil, _IOLBF, 0)
    }
    line.reserveCapacity(4096)
  }

  /// A file left unfinished (the stream failed) is removed; its path is untouched.
  deinit {
    if let file, let temporary {
      fclose(file)
      unlink(temporary)
    }
  }

  /// Starts a new line in the buffer.
  func startLine() { line.removeAll(keepingCapacity: true) }

  /// Appends to the line.
  func append(_ text: String) { line.append(contentsOf: text.utf8) }

  /// Writes the line (and flushes it at once when `flush`).
  func writeLine(flush: Bool = false) throws(StreamError) {
    guard let file else { throw .sinkFailed("\(name): written before it was opened") }
    statusLine?.clear()
    let written = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    guard written == line.count, !flush || fflush(file) == 0 else {
      throw .sinkFailed("\(name): write failed: \(String(cString: strerror(errno)))")
    }
  }

  /// Flushes and closes; moves a file into place.
  func close() throws(StreamError) {
    guard let file else { return }
    self.file = nil
    let failed = fflush(file) != 0 || ferror(file) != 0
    let code = errno
    guard let path, let temporary else {
      if failed { throw .sinkFailed("\(name): write failed: \(String(cString: strerror(code)))") }
      return
    }
    fclose(file)
    if failed {
      unlink(temporary)
      throw .sinkFailed("\(name): write failed: \(String(cString: strerror(code)))")
    }
    guard rename(temporary, path) == 0 else {
      let renameCode = errno
      unlink(temporary)
      throw .sinkFailed("\(name): cannot move into place: \(String(cString: strerror(renameCode)))")
    }
  }
}

/// The label (or index) that `top` names: the largest output; for independent (sigmoid) outputs
/// only when it reaches `threshold`, else nil.
func topOutput(_ outputs: UnsafeBufferPointer<Float>, independent: Bool, threshold: Float) -> Int? {
  guard !outputs.isEmpty else { return nil }
  var top = 0
  for index in outputs.indices where outputs[index] > outputs[top] { top = index }
  if independent && !(outputs[top] >= threshold) { return nil }
  return top
}

/// The fields of an ``StreamEvent/onset(label:frame:time:)`` or
/// ``StreamEvent/offset(label:frame:time:duration:)`` without braces:
/// `"event":"onset","label":"dog_bark","time":s,"frame":n` (and `"duration":s` for an offset),
/// seconds to 4 decimals. A label index beyond `quotedLabels` is written as its number in quotes.
package func labelEventFields(_ event: StreamEvent, quotedLabels: [String], kindKey: String = "event")
  -> String
{
  func name(_ label: Int) -> String { label < quotedLabels.count ? quotedLabels[label] : "\"\(label)\"" }
  switch event {
  case .onset(let label, let frame, let time):
    return "\"\(kindKey)\":\"onset\",\"label\":\(name(label)),\"time\":\(rounded(time, 4)),\"frame\":\(frame)"
  case .offset(let label, let frame, let time, let duration):
    return
      "\"\(kindKey)\":\"offset\",\"label\":\(name(label)),\"time\":\(rounded(time, 4)),\"frame\":\(frame),\"duration\":\(rounded(duration, 4))"
  default:
    return "\"\(kindKey)\":null"
  }
}

/// A float as JSON: non-finite values (NaN, ±infinity) are not JSON numbers and are written `null`.
func jsonNumber(_ value: Float) -> String { value.isFinite ? String(value) : "null" }

/// JSON Lines: one object per frame,
/// `{"frame", "time", "outputs", "top", "step_us", "latency_us", "discontinuity"}`, and one per
/// event: `{"event": "start", "start": s, "start_sample": n}`, `{"event": "discard", …}` or
/// `{"start": s, "end": s, "start_sample": n, "end_sample": n}` for a finished segment.
/// Events are flushed at once (a live user waits for "speech started"). Consumer thread.
public final class JSONLinesSink: TextRecordSink, EventSink {
  private var labels: [String]?
  /// Labels as JSON strings, escaped once.
  private var quotedLabels: [String] = []
  private var stream: StreamDescription?

  /// Opens the output; takes the labels.
  public func begin(_ stream: StreamDescription) throws {
    try output.open()
    self.stream = stream
    labels = stream.labels
    quotedLabels = (stream.labels ?? []).map(jsonQuoted)
  }

  /// One frame's object.
  public func write(_ record: FrameRecord) throws {
    let top = topOutput(
      record.outputs, independent: stream?.independentProbabilities ?? false, threshold: topThreshold)
    output.startLine()
    output.append("{\"frame\":\(record.index),\"time\":\(rounded(record.time, 6)),\"outputs\":")
    if labels != nil {
      output.append("{")
      for index in record.outputs.indices {
        output.append((index > 0 ? "," : "") + quotedLabels[index] + ":" + jsonNumber(record.outputs[index]))
      }
      output.append("}")
    } else {
      output.append("[" + record.outputs.map(jsonNumber).joined(separator: ",") + "]")
    }
    let topText = top.map { labels != nil ? quotedLabels[$0] : String($0) } ?? "null"
    output.append(
      ",\"top\":\(topText),\"step_us\":\(rounded(record.stepMicroseconds, 3)),\"latency_us\":\(rounded(record.latencyMicroseconds, 3)),\"discontinuity\":\(record.discontinuity)\(record.clockSuspect ? ",\"clock_suspect\":true" : "")}\n"
    )
    try output.writeLine()
  }

  /// One event's object, flushed.
  public func write(_ event: StreamEvent) throws {
    let rate = Double(stream?.sampleRate ?? 1)
    func seconds(_ sample: Int) -> String { rounded(Double(sample) / rate, 4) }
    output.startLine()
    switch event {
    case .speechStart(let sample):
      output.append("{\"event\":\"start\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}\n")
    case .speechDiscarded(let sample):
      output.append("{\"event\":\"discard\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}\n")
    case .speechSegment(let start, let end):
      output.append(
        "{\"start\":\(seconds(start)),\"end\":\(seconds(end)),\"start_sample\":\(start),\"end_sample\":\(end)}\n"
      )
    case .onset, .offset:
      output.append("{" + labelEventFields(event, quotedLabels: quotedLabels) + "}\n")
    }
    try output.writeLine(flush: true)
  }

}

/// CSV: a header `frame,time,<labels or out0…>,top,step_us,latency_us,discontinuity`, one row per
/// frame. Takes no events. Consumer thread.
public final class CSVSink: TextRecordSink, FrameSink {
  private var labels: [String]?
  private var independent = false

  /// Opens the output and writes the header.
  public func begin(_ stream: StreamDescription) throws {
    try output.open()
    labels = stream.labels
    independent = stream.independentProbabilities
    let names = stream.labels ?? (0..<stream.outputCount).map { "out\($0)" }
    output.startLine()
    output.append(
      (["frame", "time"] + names.map(csvField) + ["top", "step_us", "latency_us", "discontinuity"])
        .joined(separator: ",") + "\n")
    try output.writeLine()
  }

  /// One row; `top` is empty when no output reaches the threshold (sigmoid outputs).
  public func write(_ record: FrameRecord) throws {
    let top = topOutput(record.outputs, independent: independent, threshold: topThreshold)
    output.startLine()
    output.append("\(record.index),\(rounded(record.time, 6)),")
    output.append(record.outputs.map { String($0) }.joined(separator: ","))
    let topField = top.map { index in labels.map { csvField($0[index]) } ?? String(index) } ?? ""
    output.append(
      ",\(topField),\(rounded(record.stepMicroseconds, 3)),\(rounded(record.latencyMicroseconds, 3)),\(record.discontinuity ? 1 : 0)\n"
    )
    try output.writeLine()
  }

}

/// What the text sinks share: the output and the `top` threshold. Consumer thread.
public class TextRecordSink {
  let output: TextOutput
  let topThreshold: Float

  init(output: TextOutput, topThreshold: Float) {
    self.output = output
    self.topThreshold = topThreshold
  }

  /// Records to `path` (nil: standard output); sigmoid outputs are named `top` from `topThreshold`.
  public convenience init(path: String?, topThreshold: Float = 0.5) {
    self.init(output: TextOutput(path: path, statusLine: nil), topThreshold: topThreshold)
  }

  /// Flushes and closes (a file is moved into place).
  public func finish() throws { try output.close() }
}

/// Collects outputs and writes `[frames, outputs]` float32 `.npy` at the end, atomically. Takes no
/// events. Appending may allocate as the buffer grows (65,536 frames are reserved at begin).
public final class NpySink: FrameSink {
  let path: String
  var outputCount = 0
  var values: [Float] = []
  var frames = 0

  /// A sink writing `path` at the end.
  public init(path: String) { self.path = path }

  /// Reserves room.
  public func begin(_ stream: StreamDescription) throws {
    outputCount = stream.outputCount
    values.reserveCapacity(outputCount * 65_536)
  }

  /// Keeps the outputs.
  public func write(_ record: FrameRecord) throws {
    values.append(contentsOf: record.outputs)
    frames += 1
  }

  /// Writes the file.
  public func finish() throws {
    try NpyArray(shape: [frames, outputCount], values: values).write(to: path)
  }
}

/// `value` rounded to `digits` decimals as JSON text (null when not finite), as every writer of
/// records and events writes times.
package func rounded(_ value: Double, _ digits: Int) -> String {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let result = (value * scale).rounded() / scale
  return result.isFinite ? String(result) : "null"
}

func csvField(_ text: String) -> String {
  text.contains(",") || text.contains("\"") || text.contains("\n")
    ? "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    : text
}
