import Foundation
import ModelIO
import Testing

/// Runs the built `streamrnn` executable and captures its exit status and output.
struct CommandResult {
  let status: Int32
  let standardOutput: String
  let standardError: String
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../..").standardized

/// The `streamrnn` binary built beside this test bundle.
func streamrnnExecutable() throws -> URL {
  var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  // Swift Testing on Linux may run from inside the .xctest bundle's folder.
  for _ in 0..<3 {
    let candidate = folder.appendingPathComponent("streamrnn")
    if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    folder = folder.deletingLastPathComponent()
  }
  throw CocoaError(
    .fileNoSuchFile, userInfo: [NSFilePathErrorKey: "streamrnn next to \(CommandLine.arguments[0])"])
}

func streamrnn(_ arguments: [String]) throws -> CommandResult {
  let process = Process()
  process.executableURL = try streamrnnExecutable()
  process.arguments = arguments
  let output = Pipe()
  let error = Pipe()
  process.standardOutput = output
  process.standardError = error
  try process.run()
  let outData = output.fileHandleForReading.readDataToEndOfFile()
  let errData = error.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
    standardError: String(decoding: errData, as: UTF8.self))
}

func temporaryPath(_ name: String) -> String {
  let folder = FileManager.default.temporaryDirectory.appendingPathComponent("streamrnn-cli-\(getpid())")
  try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  return folder.appendingPathComponent(name).path
}

func golden(_ caseName: String, _ file: String) -> String {
  packageRoot.appendingPathComponent("Tests/Golden/recurrent/\(caseName)/\(file)").path
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite("streamrnn step follows its contract")
struct StepCommandTests {
  @Test(
    "Outputs, h_n and c_n equal PyTorch's through the CLI",
    arguments: [
      "lstm_proj_2x20p7_in11_head3", "gru_3x33_in7_head5", "rnn_tanh_bi_1x10_in3", "lstm_bi_proj_2x12p5_in6",
    ])
  func matchesGolden(caseName: String) throws {
    let isLSTM = caseName.hasPrefix("lstm")
    let out = temporaryPath("\(caseName)-out.npy")
    let hn = temporaryPath("\(caseName)-hn.npy")
    let cn = temporaryPath("\(caseName)-cn.npy")
    var arguments = [
      "step", "--model", golden(caseName, "model.safetensors"), "--frames", golden(caseName, "frames.npy"),
      "--h0", golden(caseName, "h0.npy"), "--out", out, "--hn", hn,
    ]
    if isLSTM { arguments += ["--c0", golden(caseName, "c0.npy"), "--cn", cn] }
    let result = try streamrnn(arguments)
    #expect(result.status == 0, "\(result.standardError)")
    let expectedOut = try NpyArray(path: golden(caseName, "out.npy"))
    let actualOut = try NpyArray(path: out)
    #expect(actualOut.shape == expectedOut.shape)
    #expect(maxAbsDifference(actualOut.values, expectedOut.values) <= 1e-5)
    let actualHn = try NpyArray(path: hn)
    let expectedHn = try NpyArray(path: golden(caseName, "hn.npy"))
    #expect(actualHn.shape == expectedHn.shape)
    #expect(maxAbsDifference(actualHn.values, expectedHn.values) <= 1e-5)
    if isLSTM {
      let actualCn = try NpyArray(path: cn)
      let expectedCn = try NpyArray(path: golden(caseName, "cn.npy"))
      #expect(actualCn.shape == expectedCn.shape)
      #expect(maxAbsDifference(actualCn.values, expectedCn.values) <= 1e-5)
    }
  }

  @Test func zeroInitialStateByDefault() throws {
    let out = temporaryPath("zero-out.npy")
    let hn = temporaryPath("zero-hn.npy")
    let result = try streamrnn([
      "step", "--model", golden("gru_1x16_in10", "model.safetensors"), "--frames",
      golden("gru_1x16_in10", "frames.npy"), "--out", out, "--hn", hn,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let output = try NpyArray(path: out)
    #expect(output.shape == [50, 16])
    // With h0 = 0 the outputs differ from the golden run (which starts from a random h0).
    let withH0 = try NpyArray(path: golden("gru_1x16_in10", "out.npy"))
    #expect(maxAbsDifference(output.values, withH0.values) > 1e-3)
  }

  @Test func initialStateMayCarryPyTorchsBatchDimension() throws {
    // h0 saved from a batched PyTorch call is [L*D, 1, H_out]; same memory layout, accepted.
    let caseName = "gru_1x16_in10"
    let h0 = try NpyArray(path: golden(caseName, "h0.npy"))
    let batched = temporaryPath("h0-batched.npy")
    try NpyArray(shape: [h0.shape[0], 1, h0.shape[1]], values: h0.values).write(to: batched)
    let out = temporaryPath("batched-out.npy")
    let result = try streamrnn([
      "step", "--model", golden(caseName, "model.safetensors"), "--frames", golden(caseName, "frames.npy"),
      "--h0", batched, "--out", out,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let expected = try NpyArray(path: golden(caseName, "out.npy"))
    #expect(maxAbsDifference(try NpyArray(path: out).values, expected.values) <= 1e-5)
  }

  @Test(
    "Bad input: one line naming the file and what was expected, non-zero exit, no output written",
    arguments: [
      (["--model", "/nonexistent.safetensors"], "/nonexistent.safetensors: cannot open"),
      (["--frames", "h0.npy"], "h0.npy: shape [1, 16], expected [T, 10]"),
      (["--frames", "model.safetensors"], "model.safetensors: not a .npy file"),
      (["--h0", "frames.npy"], "frames.npy: shape [50, 10], expected [1, 16]"),
      (["--c0", "h0.npy"], "only LSTMs have a cell state"),
      (["--kind", "lstm"], "tensor 'weight_ih_l0' has shape [48, 10], expected [64, 10]"),
      (["--kind", "banana"], "banana"),
    ])
  func badInput(overrides: [String], expected: String) throws {
    let out = temporaryPath("bad-\(UUID().uuidString).npy")
    var options: [String: String] = [
      "--model": "model.safetensors", "--frames": "frames.npy", "--out": out,
    ]
    for index in stride(from: 0, to: overrides.count, by: 2) {
      options[overrides[index]] = overrides[index + 1]
    }
    var arguments = ["step"]
    for (flag, value) in options.sorted(by: { $0.key < $1.key }) {
      arguments += [flag, value.hasPrefix("/") || flag == "--kind" ? value : golden("gru_1x16_in10", value)]
    }
    let result = try streamrnn(arguments)
    #expect(result.status != 0)
    let lines = result.standardError.split(separator: "\n").filter { !$0.isEmpty }
    #expect(lines.count == 1 || flagError(result.standardError), "\(result.standardError)")
    #expect(result.standardError.contains(expected), "\(result.standardError)")
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  /// ArgumentParser adds a usage hint under errors about the flags themselves.
  private func flagError(_ text: String) -> Bool { text.contains("Usage:") || text.contains("Help:") }
}

@Suite("Layer graphs through the CLI")
struct GraphCommandTests {
  let folder = packageRoot.appendingPathComponent("Tests/Golden/network").path

  @Test(arguments: [
    "norm_linear_gru2_mlp", "causalconv_bn_lstmproj", "lstm_gru_layernorm", "depthwise_activations",
    "centred_convs",
  ])
  func stepWritesPyTorchsOutputs(name: String) throws {
    let out = temporaryPath("graph-\(name)-\(UUID().uuidString).npy")
    let result = try streamrnn([
      "step", "--model", "\(folder)/\(name)/model.safetensors", "--frames", "\(folder)/\(name)/frames.npy",
      "--out", out,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let expected = try NpyArray(path: "\(folder)/\(name)/out.npy")
    let actual = try NpyArray(path: out)
    #expect(actual.shape == expected.shape)
    #expect(maxAbsDifference(actual.values, expected.values) <= 1e-5)
  }

  @Test func replayEqualsFeaturesThenStepForAGraph() throws {
    let model = "\(folder)/norm_linear_gru2_mlp/model.safetensors"
    let features = temporaryPath("graph-features-\(UUID().uuidString).npy")
    let stepped = temporaryPath("graph-step-\(UUID().uuidString).npy")
    let replayed = temporaryPath("graph-replay-\(UUID().uuidString).npy")
    #expect(
      try streamrnn(["features", demoSpeech, "--kind", "logmel", "--n-mels", "10", "--out", features]).status
        == 0)
    #expect(try streamrnn(["step", "--model", model, "--frames", features, "--out", stepped]).status == 0)
    let result = try streamrnn([
      "replay", demoSpeech, "--model", model, "--n-mels", "10", "--pace", "max", "--format", "npy", "--out",
      replayed,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    // replay applies the output activation (softmax); step writes the chain's raw outputs.
    let logits = try NpyArray(path: stepped)
    let probabilities = try NpyArray(path: replayed)
    #expect(probabilities.shape == logits.shape && logits.shape[0] > 400)
    var expected: [Float] = []
    for row in 0..<logits.shape[0] {
      let values = Array(logits.values[(row * 3)..<(row * 3 + 3)])
      let largest = values.max()!
      let exps = values.map { exp(Double($0 - largest)) }
      expected += exps.map { Float($0 / exps.reduce(0, +)) }
    }
    #expect(maxAbsDifference(probabilities.values, expected) <= 1e-5)
    let refused = try streamrnn([
      "step", "--model", model, "--frames", features, "--out", stepped, "--h0", features,
    ])
    #expect(refused.status != 0 && refused.standardError.contains("not to a layer graph"))
  }

  @Test func aChainWithLookaheadGivesEveryFrameInReplayToo() throws {
    // Two centred convolutions: outputs come 4 frames late and the end is flushed with zeros.
    let model = "\(folder)/centred_convs/model.safetensors"
    let features = temporaryPath("lookahead-features-\(UUID().uuidString).npy")
    let stepped = temporaryPath("lookahead-step-\(UUID().uuidString).npy")
    let replayed = temporaryPath("lookahead-replay-\(UUID().uuidString).npy")
    #expect(
      try streamrnn(["features", demoSpeech, "--kind", "logmel", "--n-mels", "5", "--out", features]).status
        == 0)
    #expect(try streamrnn(["step", "--model", model, "--frames", features, "--out", stepped]).status == 0)
    let result = try streamrnn([
      "replay", demoSpeech, "--model", model, "--n-mels", "5", "--pace", "max", "--format", "npy", "--out",
      replayed,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let expected = try NpyArray(path: stepped)
    let actual = try NpyArray(path: replayed)
    let frames = try NpyArray(path: features)
    #expect(expected.shape[0] == frames.shape[0] && actual.shape == expected.shape)
    #expect(maxAbsDifference(actual.values, expected.values) <= 1e-6)
    // JSON Lines: frame numbers run 0…T−1 with no gap, the flushed ones included.
    let lines = try streamrnn(["replay", demoSpeech, "--model", model, "--n-mels", "5", "--pace", "max"])
      .standardOutput.split(separator: "\n")
    let numbers = try lines.map { line in
      try #require(
        (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["frame"] as? Int)
    }
    #expect(numbers == Array(0..<frames.shape[0]))
  }

  @Test func aBidirectionalGraphStepsOfflineAndReplayRefusesIt() throws {
    let model = "\(folder)/keras_bidirectional/model.safetensors"
    let out = temporaryPath("bidirectional-\(UUID().uuidString).npy")
    let result = try streamrnn([
      "step", "--model", model, "--frames", "\(folder)/keras_bidirectional/frames.npy", "--out", out,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    #expect(try NpyArray(path: out).shape == [1000, 3])
    let refused = try streamrnn(["replay", demoSpeech, "--model", model, "--n-mels", "4", "--pace", "max"])
    #expect(refused.status != 0)
    #expect(refused.standardError.contains("bidirectional: it needs the future, so it runs offline only"))
    #expect(refused.standardError.split(separator: "\n").count == 1)
  }
}
