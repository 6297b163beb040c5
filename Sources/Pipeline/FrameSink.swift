import ModelIO

#if canImport(Glibc)
  import Glibc
#endif

/// One per-frame result, as handed to a sink.
public struct FrameRecord {
  /// 0-based frame number.
  public var index: Int
  /// Stream time of the frame's start, seconds (`index × hop / rate`).
  public var time: Double
  /// The outputs after the head activation (probabilities for softmax/sigmoid heads), or the
  /// last layer's `h` for a model without a head. Valid only during the sink call.
  public var outputs: UnsafeBufferPointer<Float>
  /// Step compute time, µs.
  public var stepMicroseconds: Double
  /// Capture-to-output latency, µs.
  public var latencyMicroseconds: Double
  /// The frame follows a gap.
  public var discontinuity: Bool
}

/// Where per-frame records go. Runs on the consumer thread, after the step: it may do I/O (the ring
/// decouples it from capture), but a slow sink shows up as queue wait and, if the ring fills, as
/// counted drops.
public protocol FrameSink: AnyObject {
  /// Writes one record.
  func write(_ record: FrameRecord) throws
  /// Writes a speech-segment event (JSON Lines only).
  func write(_ event: SegmentEvent, sampleRate: Int) throws
  /// Flushes and closes; called once at the end of the stream.
  func finish() throws
}

/// The record formats.
public enum SinkFormat: String, Sendable, CaseIterable {
  /// JSON Lines: one object per frame.
  case jsonl
  /// CSV with a header row.
  case csv
  /// `.npy` float32 `[frames, outputs]` written at the end (outputs only).
  case npy
}

/// Makes a sink for `format` writing to `path` (nil: standard output; not allowed for npy).
/// `labels` name the outputs (the model's `labels`); without them outputs are a list.
public func makeSink(format: SinkFormat, path: String?, labels: [String]?, outputCount: Int) throws
  -> any FrameSink
{
  switch format {
  case .npy:
    guard let path else { throw SinkError(description: "--format npy needs --out FILE") }
    return NpySink(path: path, outputCount: outputCount)
  case .jsonl, .csv:
    // Standard output gets a stream of its own over file descriptor 1 (not closed at the end).
    guard let file = path.map({ fopen($0, "w") }) ?? fdopen(STDOUT_FILENO, "w") else {
      throw SinkError(
        description: "\(path ?? "standard output"): cannot create: \(String(cString: strerror(errno)))")
    }
    return TextSink(
      file: file, path: path ?? "standard output", ownsFile: path != nil, format: format, labels: labels,
      outputCount: outputCount)
  }
}

/// A sink that cannot write.
public struct SinkError: Error, CustomStringConvertible {
  /// One line.
  public let description: String
}

/// JSON Lines or CSV to a C stream, through a reused line buffer.
final class TextSink: FrameSink {
  let file: UnsafeMutablePointer<FILE>
  let path: String
  let ownsFile: Bool
  let format: SinkFormat
  let labels: [String]?
  /// Labels as JSON strings, escaped once.
  let quotedLabels: [String]
  var line: [UInt8] = []

  init(
    file: UnsafeMutablePointer<FILE>, path: String, ownsFile: Bool, format: SinkFormat, labels: [String]?,
    outputCount: Int
  ) {
    self.file = file
    self.path = path
    self.ownsFile = ownsFile
    self.format = format
    // Pipes and terminals get each line as it is written (live consumers react to events at
    // once); regular files keep full buffering.
    var status = stat()
    if fstat(fileno(file), &status) != 0 || (status.st_mode & S_IFMT) != S_IFREG {
      setvbuf(file, nil, _IOLBF, 0)
    }
    self.labels = labels
    quotedLabels = (labels ?? []).map(jsonQuoted)
    line.reserveCapacity(256 + 32 * outputCount)
    if format == .csv {
      let names = labels ?? (0..<outputCount).map { "out\($0)" }
      let header =
        (["frame", "time"] + names.map(csvField) + ["top", "step_us", "latency_us", "discontinuity"])
        .joined(separator: ",") + "\n"
      fputs(header, file)
    }
  }

  func write(_ record: FrameRecord) throws {
    line.removeAll(keepingCapacity: true)
    var top = 0
    for index in record.outputs.indices where record.outputs[index] > record.outputs[top] { top = index }
    let topText = labels != nil ? quotedLabels[top] : String(top)
    switch format {
    case .jsonl:
      append("{\"frame\":\(record.index),\"time\":\(rounded(record.time, 6)),\"outputs\":")
      if labels != nil {
        append("{")
        for index in record.outputs.indices {
          append((index > 0 ? "," : "") + quotedLabels[index] + ":" + String(record.outputs[index]))
        }
        append("}")
      } else {
        append("[" + record.outputs.map { String($0) }.joined(separator: ",") + "]")
      }
      append(
        ",\"top\":\(topText),\"step_us\":\(rounded(record.stepMicroseconds, 3)),\"latency_us\":\(rounded(record.latencyMicroseconds, 3)),\"discontinuity\":\(record.discontinuity)}\n"
      )
    case .csv:
      append("\(record.index),\(rounded(record.time, 6)),")
      append(record.outputs.map { String($0) }.joined(separator: ","))
      let topField = labels.map { csvField($0[top]) } ?? String(top)
      append(
        ",\(topField),\(rounded(record.stepMicroseconds, 3)),\(rounded(record.latencyMicroseconds, 3)),\(record.discontinuity ? 1 : 0)\n"
      )
    case .npy:
      break
    }
    let written = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    if written != line.count {
      throw SinkError(description: "\(path): write failed: \(String(cString: strerror(errno)))")
    }
  }

  /// `{"event": "start", "start": s, "start_sample": n}`, `{"event": "discard", …}` or
  /// `{"start": s, "end": s, "start_sample": n, "end_sample": n}`.
  func write(_ event: SegmentEvent, sampleRate: Int) throws {
    guard format == .jsonl else {
      throw SinkError(description: "segments are JSON Lines: use --format jsonl (or --quiet) with --segments")
    }
    func seconds(_ sample: Int) -> String { rounded(Double(sample) / Double(sampleRate), 4) }
    let text: String
    switch event {
    case .start(let sample):
      text = "{\"event\":\"start\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}\n"
    case .discard(let sample):
      text = "{\"event\":\"discard\",\"start\":\(seconds(sample)),\"start_sample\":\(sample)}\n"
    case .segment(let start, let end):
      text =
        "{\"start\":\(seconds(start)),\"end\":\(seconds(end)),\"start_sample\":\(start),\"end_sample\":\(end)}\n"
    }
    // Events are rare and time-critical (a live user waits for "speech started"): flush now.
    guard fputs(text, file) >= 0, fflush(file) == 0 else {
      throw SinkError(description: "\(path): write failed: \(String(cString: strerror(errno)))")
    }
  }

  func finish() throws {
    let failed = fflush(file) != 0 || ferror(file) != 0
    let code = errno
    if ownsFile { fclose(file) }
    if failed { throw SinkError(description: "\(path): write failed: \(String(cString: strerror(code)))") }
  }

  private func append(_ text: String) { line.append(contentsOf: text.utf8) }
}

/// Collects outputs and writes `[frames, outputs]` float32 `.npy` at the end.
final class NpySink: FrameSink {
  let path: String
  let outputCount: Int
  var values: [Float] = []
  var frames = 0

  init(path: String, outputCount: Int) {
    self.path = path
    self.outputCount = outputCount
    values.reserveCapacity(outputCount * 65_536)
  }

  func write(_ record: FrameRecord) throws {
    values.append(contentsOf: record.outputs)
    frames += 1
  }

  func write(_ event: SegmentEvent, sampleRate: Int) throws {
    throw SinkError(description: "segments are JSON Lines: use --format jsonl (or --quiet) with --segments")
  }

  func finish() throws {
    try NpyArray(shape: [frames, outputCount], values: values).write(to: path)
  }
}

func rounded(_ value: Double, _ digits: Int) -> String {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  return String((value * scale).rounded() / scale)
}

func csvField(_ text: String) -> String {
  text.contains(",") || text.contains("\"") || text.contains("\n")
    ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}

extension String {
  fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
    split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
  }
}
