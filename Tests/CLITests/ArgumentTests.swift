import Foundation
import ModelIO
import Recurrent
import Testing

/// Runs `streamrnn` and checks the contract for a refused command line: an exit code from 1 to 127,
/// exactly one line on standard error that contains `expected`, nothing on standard output, and no
/// file at `out` (when given).
func expectRefused(_ arguments: [String], _ expected: String, out: String? = nil) throws {
  let result = try streamrnn(arguments)
  let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
  #expect(result.status >= 1 && result.status <= 127, "exit \(result.status) for \(arguments)")
  #expect(lines.count == 1, "\(arguments): standard error was \(result.standardError.debugDescription)")
  #expect(result.standardError.contains(expected), "\(arguments): \(result.standardError)")
  #expect(result.standardOutput.isEmpty, "\(arguments): standard output \(result.standardOutput.prefix(200))")
  if let out {
    let leftovers = try FileManager.default.contentsOfDirectory(
      atPath: (out as NSString).deletingLastPathComponent
    )
    .filter { $0.hasPrefix((out as NSString).lastPathComponent) }
    #expect(leftovers.isEmpty, "\(arguments) left \(leftovers)")
  }
}

/// The demo model with a single sigmoid output labelled `label`.
func singleSigmoidModel(label: String) throws -> String {
  let file = try SafeTensorsFile(path: demoModel)
  var metadata = file.metadata
  metadata["head_activation"] = "sigmoid"
  metadata["labels"] = "[\"\(label)\"]"
  var tensors = file.tensors
  // Keep the first row of the 2-class head: one output.
  let weight = try #require(tensors["head.weight"])
  let bias = try #require(tensors["head.bias"])
  let columns = weight.shape[1]
  tensors["head.weight"] = FloatTensor(shape: [1, columns], values: Array(weight.values.prefix(columns)))
  tensors["head.bias"] = FloatTensor(shape: [1], values: [bias.values[0] - 8])
  let path = temporaryPath("sigmoid-\(UUID().uuidString).safetensors")
  let sorted = tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
  FileManager.default.createFile(
    atPath: path, contents: Data(SafeTensorsFile.encoded(tensors: sorted, metadata: metadata)))
  return path
}

@Suite("Arguments that cannot crash it: one clean line for every mistake")
struct ArgumentTests {
  @Test(
    "Out-of-range numbers name the option and the allowed range",
    arguments: [
      (["--ring-capacity", "1099511627776"], "--ring-capacity 1099511627776 is out of range"),
      (["--ring-capacity", "4611686018427387904"], "--ring-capacity"),
      (["--ring-capacity", "67108864"], "a power of two from 2 to 1048576"),
      (["--ring-capacity", "100"], "a power of two"),
      (["--every", "-1"], "--every -1.0 is out of range: allowed 1 to 1000000"),
      (["--every", "0"], "--every"),
      (["--min-silence-duration-ms", "-100"], "--min-silence-duration-ms -100.0 is out of range"),
      (["--max-speech-duration-s=-1"], "--max-speech-duration-s -1.0 is out of range"),
      (["--max-speech-duration-s", "0.01"], "--max-speech-duration-s"),
      (["--threshold", "1.5"], "--threshold 1.5 is out of range: allowed 0 to 1"),
      (["--threshold", "nan"], "--threshold"),
      (["--neg-threshold", "0.9"], "--neg-threshold"),
      (["--speech-pad-ms", "-1"], "--speech-pad-ms"),
      (["--reset-after-silence", "-2"], "--reset-after-silence"),
      (["--channel", "-1"], "--channel"),
      (["--ring-capacity", "abc"], "ring-capacity"),
    ] as [([String], String)])
  func replayOptions(arguments: [String], expected: String) throws {
    try expectRefused(["replay", demoSpeech, "--pace", "max"] + arguments, expected)
  }

  @Test(
    "capture checks its numbers before it opens a device",
    arguments: [
      (["--duration", "-1"], "--duration -1.0 is out of range"),
      (["--duration", "0"], "--duration 0.0 is out of range"),
      (["--period-ms", "0"], "--period-ms 0.0 is out of range: allowed 1 to 1000"),
      (["--period-ms", "-5"], "--period-ms"),
      (["--ring-capacity", "1099511627776"], "--ring-capacity"),
    ] as [([String], String)])
  func captureOptions(arguments: [String], expected: String) throws {
    try expectRefused(["capture", "--device", "no_such_pcm"] + arguments, expected)
  }

  @Test func segmentsWithCSVAreRefusedBeforeTheStreamStarts() throws {
    let out = temporaryPath("segments-\(UUID().uuidString).csv")
    try expectRefused(
      ["replay", demoSpeech, "--segments", "--format", "csv", "--out", out], "use --format jsonl", out: out)
    try expectRefused(
      ["replay", demoSpeech, "--segments", "--format", "npy", "--out", out], "use --format jsonl", out: out)
  }

  @Test func segmentsNeedASpeechOutput() throws {
    // The demo model's outputs are "quiet" and "active": no "speech".
    let out = temporaryPath("label-\(UUID().uuidString).jsonl")
    try expectRefused(
      ["replay", demoSpeech, "--model", demoModel, "--segments", "--pace", "max", "--out", out],
      "no output labelled 'speech' (its labels: quiet, active)", out: out)
    try expectRefused(
      ["replay", demoSpeech, "--model", demoModel, "--reset-after-silence", "1", "--pace", "max"],
      "no output labelled 'speech'")
    // Naming an existing label works.
    let named = try streamrnn([
      "replay", demoSpeech, "--model", demoModel, "--segments", "--speech-label", "active", "--quiet",
      "--pace",
      "max",
    ])
    #expect(named.status == 0, "\(named.standardError)")
  }

  @Test func aSingleSigmoidOutputIsTheSpeechOutputWhateverItsLabel() throws {
    let model = try singleSigmoidModel(label: "voice")
    let result = try streamrnn([
      "replay", demoSpeech, "--model", model, "--segments", "--quiet", "--pace", "max",
    ])
    #expect(result.status == 0, "\(result.standardError)")
  }

  @Test func topIsNullBelowTheThresholdForSigmoidOutputs() throws {
    let model = try singleSigmoidModel(label: "voice")
    let result = try streamrnn(["replay", demoSpeech, "--model", model, "--pace", "max"])
    #expect(result.status == 0, "\(result.standardError)")
    var below = 0
    var above = 0
    for line in result.standardOutput.split(separator: "\n") {
      let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let probability = try #require((record["outputs"] as? [String: Double])?["voice"])
      if probability >= 0.5 {
        #expect(record["top"] as? String == "voice")
        above += 1
      } else {
        #expect(record["top"] is NSNull, "p = \(probability) named \(record["top"] ?? "nothing")")
        below += 1
      }
    }
    #expect(below > 0)
    // With a threshold under every probability, every frame names the label.
    let low = try streamrnn(["replay", demoSpeech, "--model", model, "--pace", "max", "--threshold", "0"])
    #expect(low.standardOutput.split(separator: "\n").allSatisfy { $0.contains(#""top":"voice""#) })
    _ = above
  }

  @Test func versionPrintsTheVersion() throws {
    let result = try streamrnn(["--version"])
    #expect(result.status == 0)
    #expect(
      result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
  }

  @Test func errorsAreOneLineEvenWhenTheMessageHasNewlines() throws {
    try expectRefused(["replay", "/nonexistent\ndir/x.wav", "--pace", "max"], "x.wav")
    try expectRefused(["replay", demoSpeech, "--model", String(repeating: "m", count: 2000)], "…")
    try expectRefused(["no-such-command"], "no-such-command")
  }

  @Test func aDecodingErrorMidStreamIsReportedOnce() throws {
    let flac = packageRoot.appendingPathComponent("Tests/Golden/features/audio/speech_22k05.flac").path
    let cut = temporaryPath("cut-\(UUID().uuidString).flac")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: flac))
    FileManager.default.createFile(atPath: cut, contents: bytes.prefix(50_000))
    let result = try streamrnn(["replay", cut, "--pace", "max", "--quiet"])
    #expect(result.status != 0)
    let mentions = result.standardError.components(separatedBy: "decoding failed").count - 1
    #expect(mentions == 1, "\(result.standardError)")
    #expect(
      result.standardError.hasSuffix("\n")
        && result.standardError.split(separator: "\n").last?.hasPrefix("streamrnn: ") == true)
  }

  @Test func theBinaryKeepsTheSystemAllocator() throws {
    // The allocation counter interposes malloc; it belongs to the tests and streamrnn-bench only.
    let (status, text) = try run("/usr/bin/nm", ["--defined-only", try streamrnnExecutable().path])
    #expect(status == 0 && text.contains("main"), "nm failed")
    let symbols = Set(
      text.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
    // A sanitizer build (make asan, make tsan) links the sanitizer's own allocator: nothing to check.
    guard !symbols.contains("__tsan_init") && !symbols.contains("__asan_init") else { return }
    for name in ["malloc", "free", "calloc", "realloc", "allocation_counter_start"] {
      #expect(!symbols.contains(name), "streamrnn defines \(name)")
    }
    // The positive control: the benchmark executable does define it.
    let bench = try streamrnnExecutable().deletingLastPathComponent().appendingPathComponent(
      "streamrnn-bench")
    let (_, benchText) = try run("/usr/bin/nm", ["--defined-only", bench.path])
    #expect(benchText.split(separator: "\n").contains { $0.hasSuffix(" malloc") })
  }
}
