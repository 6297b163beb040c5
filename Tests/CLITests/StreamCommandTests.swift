import Foundation
import ModelIO
import Recurrent
import Testing

let demoModel = packageRoot.appendingPathComponent("Examples/demo/gru2x64-head2.safetensors").path
let demoSpeech = packageRoot.appendingPathComponent("Examples/demo/speech.wav").path

/// The demo model re-written without head activation, so the stream's outputs are logits.
func logitModel() throws -> String {
  let file = try SafeTensorsFile(path: demoModel)
  var metadata = file.metadata
  metadata["head_activation"] = nil
  let path = temporaryPath("logits-\(UUID().uuidString).safetensors")
  let tensors = file.tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
  FileManager.default.createFile(
    atPath: path, contents: Data(SafeTensorsFile.encoded(tensors: tensors, metadata: metadata)))
  return path
}

@Suite("streamrnn replay, capture and devices follow their contract")
struct StreamCommandTests {
  @Test func replayEqualsFeaturesThenStep() throws {
    let model = try logitModel()
    let features = temporaryPath("replay-features.npy")
    let logits = temporaryPath("replay-logits.npy")
    let replayed = temporaryPath("replay-out.npy")
    #expect(try streamrnn(["features", demoSpeech, "--kind", "logmel", "--out", features]).status == 0)
    #expect(try streamrnn(["step", "--model", model, "--frames", features, "--out", logits]).status == 0)
    let result = try streamrnn([
      "replay", demoSpeech, "--model", model, "--pace", "max", "--format", "npy", "--out", replayed,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let expected = try NpyArray(path: logits)
    let actual = try NpyArray(path: replayed)
    #expect(actual.shape == expected.shape && actual.shape[0] > 400)
    #expect(maxAbsDifference(actual.values, expected.values) <= 1e-6)
  }

  @Test func jsonLinesRecordsAndStatistics() throws {
    let stats = temporaryPath("stats-\(UUID().uuidString).json")
    let result = try streamrnn([
      "replay", demoSpeech, "--model", demoModel, "--pace", "max", "--every", "10", "--stats-json", stats,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let lines = result.standardOutput.split(separator: "\n")
    #expect(lines.count == 50)
    for (number, line) in lines.enumerated() {
      let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect(record["frame"] as? Int == number * 10)
      #expect(abs((record["time"] as? Double ?? -1) - Double(number) * 0.1) < 1e-9)
      let outputs = try #require(record["outputs"] as? [String: Double])
      #expect(Set(outputs.keys) == ["quiet", "active"])
      #expect(abs(outputs.values.reduce(0, +) - 1) < 1e-5, "softmax probabilities")
      #expect(record["top"] as? String == outputs.max { $0.value < $1.value }?.key)
      #expect(record["step_us"] is Double && record["latency_us"] is Double)
      #expect(record["discontinuity"] as? Bool == false)
    }
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
    #expect(report["frames"] as? Int == 500 && report["dropped"] as? Int == 0 && report["xruns"] as? Int == 0)
    for key in ["step", "compute", "queue_wait", "capture_to_output"] {
      let summary = try #require(report[key] as? [String: Any], "\(key)")
      #expect(Set(summary.keys) == ["count", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"])
    }
    // Compute per frame is its features plus its step: more than the step alone, frame by frame.
    let step = try #require(report["step"] as? [String: Any])
    let compute = try #require(report["compute"] as? [String: Any])
    #expect(compute["count"] as? Int == 500)
    #expect(try #require(compute["p50_us"] as? Double) > #require(step["p50_us"] as? Double))
    #expect(try #require(compute["mean_us"] as? Double) > #require(step["mean_us"] as? Double))
    #expect(
      result.standardError.contains("capture to output") && result.standardError.contains("x real-time"))
  }

  @Test func csvAndQuiet() throws {
    let csv = try streamrnn(["replay", demoSpeech, "--model", demoModel, "--pace", "max", "--format", "csv"])
    #expect(csv.status == 0)
    let rows = csv.standardOutput.split(separator: "\n")
    #expect(rows.first == "frame,time,quiet,active,top,step_us,latency_us,discontinuity")
    #expect(rows.count == 501 && rows[1].hasPrefix("0,0.0,"))
    let quiet = try streamrnn(["replay", demoSpeech, "--model", demoModel, "--pace", "max", "--quiet"])
    #expect(quiet.status == 0 && quiet.standardOutput.isEmpty && quiet.standardError.contains("frames 500"))
  }

  @Test func theBundledVADIsTheDefaultAndItsSegmentsAreTheOfficialOnes() throws {
    let goldenAudio = packageRoot.appendingPathComponent("Tests/Golden/silero/speech_noise.wav").path
    let result = try streamrnn(["replay", goldenAudio, "--pace", "max", "--segments", "--quiet"])
    #expect(result.status == 0, "\(result.standardError)")
    var starts: [Int] = []
    var segments: [[Int]] = []
    for line in result.standardOutput.split(separator: "\n") {
      let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      if event["event"] as? String == "start" {
        starts.append(try #require(event["start_sample"] as? Int))
        #expect(event["start"] is Double)
      } else {
        #expect(Set(event.keys) == ["start", "end", "start_sample", "end_sample"])
        segments.append([
          try #require(event["start_sample"] as? Int), try #require(event["end_sample"] as? Int),
        ])
        #expect(abs((event["start"] as? Double ?? -1) - Double(segments.last![0]) / 16000) < 1e-3)
      }
    }
    struct Official: Decodable {
      struct Segment: Decodable {
        let start: Int
        let end: Int
      }
      let timestamps: [Segment]
    }
    let official = try JSONDecoder().decode(
      Official.self,
      from: Data(contentsOf: packageRoot.appendingPathComponent("Tests/Golden/silero/timestamps.json")))
    #expect(segments.count == official.timestamps.count)
    for (ours, theirs) in zip(segments, official.timestamps) {
      #expect(abs(ours[0] - theirs.start) <= 512 && abs(ours[1] - theirs.end) <= 512)
    }
    #expect(starts == segments.map { $0[0] }, "every segment was announced at its start")
  }

  @Test func aLiveStartEventArrivesBeforeTheStreamEnds() throws {
    // Paced replay into a pipe: the first start event must reach the reader while the stream is
    // still running (not when a buffer fills or at exit).
    let audio = packageRoot.appendingPathComponent("Examples/demo/speech_with_pauses.wav").path
    let process = Process()
    process.executableURL = try streamrnnExecutable()
    process.arguments = ["replay", audio, "--segments", "--quiet"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    let started = Date()
    try process.run()
    let first = output.fileHandleForReading.availableData
    let arrival = Date().timeIntervalSince(started)
    process.interrupt()
    _ = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(String(decoding: first, as: UTF8.self).hasPrefix(#"{"event":"start""#))
    // Speech starts about 1.03 s into the 9 s recording (padded); the event must come long before the end.
    #expect(arrival > 0.9 && arrival < 4, "first event after \(arrival) s")
  }

  @Test func sigintDrainsFlushesAndReports() throws {
    let process = Process()
    process.executableURL = try streamrnnExecutable()
    let stats = temporaryPath("sigint-\(UUID().uuidString).json")
    process.arguments = ["replay", demoSpeech, "--model", demoModel, "--stats-json", stats]
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Interrupt once the stream is running (the first record is out), about 0.5 s into 5 s.
    var records = output.fileHandleForReading.availableData
    usleep(500_000)
    process.interrupt()  // SIGINT
    records += output.fileHandleForReading.readDataToEndOfFile()
    let table = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(table)")
    let lines = String(decoding: records, as: UTF8.self).split(separator: "\n")
    #expect(
      lines.count > 20 && lines.count < 400, "\(lines.count) records after SIGINT at about 0.5 s of 5 s")
    #expect(
      lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "a record was cut"
    )
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
    #expect(report["frames"] as? Int == lines.count)
    #expect(table.contains("capture to output"))
  }

  @Test(
    "Bad input: one line and a non-zero exit",
    arguments: [
      (["replay", "/nonexistent.wav", "--model", "DEMO"], "/nonexistent.wav: cannot open"),
      (["replay", "SPEECH", "--model", "/nonexistent.safetensors"], "/nonexistent.safetensors: cannot open"),
      (
        ["replay", "SPEECH", "--model", "DEMO", "--n-mels", "64"],
        "takes 40 inputs per frame but the features give 64"
      ),
      (["replay", "SPEECH", "--model", "DEMO", "--ring-capacity", "100"], "power of two"),
      (["replay", "SPEECH", "--model", "DEMO", "--format", "npy"], "needs --out"),
      (
        ["capture", "--model", "DEMO", "--device", "no_such_pcm", "--duration", "1"],
        "ALSA device 'no_such_pcm': snd_pcm_open failed"
      ),
    ])
  func badInput(arguments: [String], expected: String) throws {
    let resolved = arguments.map { $0 == "DEMO" ? demoModel : $0 == "SPEECH" ? demoSpeech : $0 }
    let result = try streamrnn(resolved)
    #expect(result.status != 0)
    #expect(result.standardError.contains(expected), "\(result.standardError)")
    #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
  }
}

@Suite("The tool stays small")
struct FootprintTests {
  @Test func itLinksNeitherFoundationNorICU() throws {
    // streamrnn uses FoundationEssentials only: the full Foundation and ICU would add about 7 MB of
    // resident memory to a live capture (the Silero VAD aim is 30 MB in all).
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
    process.arguments = [try streamrnnExecutable().path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(text.contains("libswiftCore.so"), "ldd listed nothing: \(text)")
    #expect(!text.contains("libFoundation.so") && !text.contains("FoundationICU"), "\(text)")
  }

  @Test func aCopiedBinaryStillHasItsDefaultModel() throws {
    // The bundled model is embedded, not looked up beside the binary: a copy anywhere runs the VAD.
    let folder = temporaryPath("copied-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let copy = folder + "/streamrnn"
    try FileManager.default.copyItem(atPath: try streamrnnExecutable().path, toPath: copy)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: copy)
    process.arguments = ["replay", demoSpeech, "--pace", "max", "--segments", "--quiet"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = Pipe()
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    #expect(text.contains("\"start_sample\"") && text.contains("\"end_sample\""), "\(text)")
  }
}

@Suite("On a terminal")
struct TerminalTests {
  @Test func recordsNeverShareALineWithTheProgressDisplay() throws {
    // `script` gives the command a terminal for both standard output and standard error.
    let (status, text) = try run(
      "/usr/bin/script",
      [
        "-qec",
        "\(try streamrnnExecutable().path) replay \(packageRoot.path)/Examples/demo/speech_with_pauses.wav --segments --quiet",
        "/dev/null",
      ])
    #expect(status == 0)
    #expect(text.contains("frames, 0 dropped"), "no progress display was drawn: the test would prove nothing")
    // The terminal ends lines with CR LF; work on scalars so that CR stays a character of its own.
    func pieces(_ text: String, _ separator: Unicode.Scalar) -> [String] {
      text.unicodeScalars.split(separator: separator, omittingEmptySubsequences: false).map {
        String(String.UnicodeScalarView($0))
      }
    }
    let records = pieces(text, "\n").filter { $0.contains("{\"") }
    #expect(records.count >= 8, "\(records.count) events")
    for line in records {
      let before = String(line[..<line.range(of: "{\"")!.lowerBound])
      // Whatever the line held before the record was erased: after its last carriage return comes
      // nothing, or only the erase-line sequence.
      let visible = pieces(before, "\r").last ?? ""
      #expect(visible.isEmpty || visible == "\u{1B}[K", "a record shares a line: \(line.debugDescription)")
    }
  }
}

/// Runs `executable` with `arguments` (standard input empty, standard error discarded) and returns
/// its exit status and standard output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let output = Pipe()
  process.standardOutput = output
  process.standardInput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  try process.run()
  let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  return (process.terminationStatus, text)
}

@Suite("Non-finite values never make invalid output")
struct NonFiniteTests {
  @Test func nanAudioGivesNullOutputsAWarningAndACount() throws {
    // A float WAV whose samples are all NaN: the features, then the outputs, are NaN.
    func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    let frames = 16000
    let data = (0..<frames).flatMap { _ in u32(Int(Float.nan.bitPattern)) }
    let format = u16(3) + u16(1) + u32(16000) + u32(64000) + u16(4) + u16(32)
    let body = Array("WAVEfmt ".utf8) + u32(16) + format + Array("data".utf8) + u32(data.count) + data
    let path = temporaryPath("nan-\(UUID().uuidString).wav")
    FileManager.default.createFile(atPath: path, contents: Data(Array("RIFF".utf8) + u32(body.count) + body))
    let stats = temporaryPath("nan-stats-\(UUID().uuidString).json")
    let result = try streamrnn(["replay", path, "--model", demoModel, "--pace", "max", "--stats-json", stats])
    #expect(result.status == 0, "\(result.standardError)")
    let lines = result.standardOutput.split(separator: "\n")
    #expect(lines.count > 90)
    for line in lines {
      let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect((record["outputs"] as? [String: Any])?.values.allSatisfy { $0 is NSNull } == true)
    }
    let warnings = result.standardError.split(separator: "\n").filter { $0.contains("NaN or infinite") }
    #expect(warnings.count == 1, "\(result.standardError)")
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
    #expect(report["non_finite_frames"] as? Int == lines.count)
  }
}

@Suite("Output files are whole or absent")
struct OutputFileTests {
  /// Starts a real-time replay writing records and statistics to files, then sends `signal` once
  /// records are being written.
  func interrupted(by signal: Int32) throws -> (status: Int32, records: String, stats: String) {
    let folder = temporaryPath("outputs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let records = folder + "/records.jsonl"
    let stats = folder + "/stats.json"
    let process = Process()
    process.executableURL = try streamrnnExecutable()
    process.arguments = ["replay", demoSpeech, "--model", demoModel, "--out", records, "--stats-json", stats]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Wait until records are being written (the partial file beside the path has data), however
    // slowly the binary starts (sanitizer builds), then interrupt.
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      let partial = try FileManager.default.contentsOfDirectory(atPath: folder).first {
        $0.hasPrefix("records.jsonl.partial")
      }
      if let partial,
        let size = try? FileManager.default.attributesOfItem(atPath: folder + "/" + partial)[.size] as? Int,
        size > 0
      {
        break
      }
      usleep(20_000)
    }
    usleep(200_000)
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    return (process.terminationStatus, records, stats)
  }

  @Test func killNineLeavesNoTruncatedFileAtThePath() throws {
    let (_, records, stats) = try interrupted(by: SIGKILL)
    #expect(!FileManager.default.fileExists(atPath: records), "a partial records file is at the final path")
    #expect(!FileManager.default.fileExists(atPath: stats))
  }

  @Test func sigintLeavesCompleteValidFiles() throws {
    let (status, records, stats) = try interrupted(by: SIGINT)
    #expect(status == 0)
    let lines = try String(contentsOfFile: records, encoding: .utf8).split(separator: "\n")
    #expect(lines.count > 5 && lines.count < 450, "\(lines.count) records of 500")
    #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
    #expect(report["frames"] as? Int == lines.count)
    let leftovers = try FileManager.default.contentsOfDirectory(
      atPath: (records as NSString).deletingLastPathComponent)
    #expect(Set(leftovers) == ["records.jsonl", "stats.json"], "temporary files left: \(leftovers)")
  }
}
