import Foundation
import ModelIO
import Testing

func featureGolden(_ file: String) -> String {
  packageRoot.appendingPathComponent("Tests/Golden/features/\(file)").path
}

@Suite("streamrnn features follows its contract")
struct FeaturesCommandTests {
  @Test(
    "Writes [frames, n_mels] float32 equal to torchaudio's",
    arguments: [
      (["--kind", "fbank"], "speech_16k_s16_fbank.npy", "speech_16k_s16.wav"),
      (
        ["--kind", "logmel", "--center", "--int16-scale"], "stereo_44k1_s24_logmel_center_int16.npy",
        "stereo_44k1_s24.wav"
      ),
      (["--kind", "logmel"], "speech_22k05_logmel.npy", "speech_22k05.flac"),
    ])
  func matchesGolden(arguments: [String], golden: String, audio: String) throws {
    let out = temporaryPath("features-\(UUID().uuidString).npy")
    let result = try streamrnn(["features", featureGolden("audio/" + audio)] + arguments + ["--out", out])
    #expect(result.status == 0, "\(result.standardError)")
    let actual = try NpyArray(path: out)
    let expected = try NpyArray(path: featureGolden(golden))
    #expect(actual.shape == expected.shape)
    // Bins within 16 nats of the frame maximum: ≤ 1e-3 (the full rule is checked in FeaturesTests).
    let width = expected.shape[1]
    for frame in 0..<expected.shape[0] {
      let row = expected.values[(frame * width)..<((frame + 1) * width)]
      let maximum = row.max()!
      for index in row.indices where row[index] >= maximum - 16 {
        #expect(abs(actual.values[index] - row[index]) <= 1e-3)
      }
    }
  }

  @Test(
    "Bad input: one line and a non-zero exit",
    arguments: [
      (["/nonexistent.wav", "--kind", "fbank"], "/nonexistent.wav: cannot open: No such file or directory"),
      (["manifest.json", "--kind", "logmel"], "manifest.json: not a readable audio file"),
      (
        ["audio/speech_16k_s16.wav", "--kind", "fbank", "--center"], "--center does not apply to --kind fbank"
      ),
      (
        ["audio/speech_16k_s16.wav", "--kind", "logmel", "--window-type", "hamming"],
        "--window-type does not apply"
      ),
      (["audio/speech_16k_s16.wav", "--channel", "2"], "has 1 channel, no channel 2"),
      (["audio/speech_16k_s16.wav", "--n-fft", "513"], "n_fft 513 must be"),
    ])
  func badInput(arguments: [String], expected: String) throws {
    let out = temporaryPath("bad-features-\(UUID().uuidString).npy")
    var resolved = arguments
    if !resolved[0].hasPrefix("/") { resolved[0] = featureGolden(resolved[0]) }
    let result = try streamrnn(["features"] + resolved + ["--out", out])
    #expect(result.status != 0)
    #expect(result.standardError.contains(expected), "\(result.standardError)")
    #expect(!FileManager.default.fileExists(atPath: out))
  }
}
