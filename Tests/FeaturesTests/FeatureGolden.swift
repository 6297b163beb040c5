import Foundation
import ModelIO

@testable import StreamRNNCommands

/// One case of Tests/Golden/features/manifest.json (written by Scripts/make_feature_golden.py with
/// real torchaudio): an audio file, the `streamrnn features` arguments, and torchaudio's frames.
struct FeatureGoldenCase: Decodable, CustomStringConvertible, Sendable {
  let name: String
  let audio: String
  let arguments: [String]
  let frames: String

  var description: String { name }

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Golden/features").standardized.path

  static func all() -> [FeatureGoldenCase] {
    struct Manifest: Decodable { let cases: [FeatureGoldenCase] }
    guard let data = FileManager.default.contents(atPath: folder + "/manifest.json"),
      let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
    else { return [] }
    return manifest.cases
  }

  var audioPath: String { Self.folder + "/" + audio }

  func expectedFrames() throws -> NpyArray { try NpyArray(path: Self.folder + "/" + frames) }

  /// The frames `streamrnn features` computes for this case (same option parsing, same code).
  func computedFrames(blockFrames: Int = 4096) throws -> (values: [Float], featureCount: Int) {
    let options = try FeatureOptions.parse(arguments)
    let extractor = try options.makeExtractor()
    let values = try extractFrames(
      path: audioPath, extractor: extractor, sampleRate: try options.configuration().sampleRate,
      channel: .mean)
    return (values, extractor.featureCount)
  }
}

/// The bar: |Δ| ≤ 1e-3 on bins within 16 nats of their frame's maximum, ≤ 2e-2 on every bin.
/// Returns nil when `actual` passes, else a one-line description of the worst violation.
func featureMismatch(_ actual: [Float], _ expected: NpyArray) -> String? {
  guard expected.shape.count == 2 else { return "expected frames have shape \(expected.shape)" }
  let width = expected.shape[1]
  guard actual.count == expected.values.count else {
    return "\(actual.count / max(width, 1)) frames, torchaudio has \(expected.shape[0])"
  }
  var worstNear: (Float, Int) = (0, -1)
  var worstAll: (Float, Int) = (0, -1)
  for frame in 0..<expected.shape[0] {
    let row = expected.values[(frame * width)..<((frame + 1) * width)]
    let maximum = row.max() ?? 0
    for bin in 0..<width {
      let index = frame * width + bin
      let difference = abs(actual[index] - expected.values[index])
      if !(difference <= worstAll.0) { worstAll = (difference, index) }
      if expected.values[index] >= maximum - 16, !(difference <= worstNear.0) {
        worstNear = (difference, index)
      }
    }
  }
  if !(worstNear.0 <= 1e-3) {
    return
      "|Δ| \(worstNear.0) > 1e-3 near the frame maximum at frame \(worstNear.1 / width), bin \(worstNear.1 % width)"
  }
  if !(worstAll.0 <= 2e-2) {
    return "|Δ| \(worstAll.0) > 2e-2 at frame \(worstAll.1 / width), bin \(worstAll.1 % width)"
  }
  return nil
}
