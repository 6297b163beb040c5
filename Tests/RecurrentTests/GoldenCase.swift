import Foundation
import ModelIO
import Recurrent

/// One case written by Scripts/make_golden.py (real PyTorch): model, inputs and expected outputs.
struct GoldenCase: CustomStringConvertible, Sendable {
  let name: String
  let model: RecurrentModel
  let frames: NpyArray
  let h0: NpyArray
  let c0: NpyArray?
  let out: NpyArray
  let hn: NpyArray
  let cn: NpyArray?

  var description: String { "\(name) [\(model.kernel.rawValue)]" }
  var frameCount: Int { frames.shape[0] }

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Golden/recurrent").standardized.path

  static func names() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
  }

  static func load(
    _ name: String, kernel: RecurrentKernel = .preferred, weightStorage: WeightStorage = .float32
  ) throws -> GoldenCase {
    let base = folder + "/" + name + "/"
    func optional(_ file: String) throws -> NpyArray? {
      FileManager.default.fileExists(atPath: base + file) ? try NpyArray(path: base + file) : nil
    }
    return GoldenCase(
      name: name,
      model: try ModelLoader.load(
        path: base + "model.safetensors", kernel: kernel, weightStorage: weightStorage),
      frames: try NpyArray(path: base + "frames.npy"), h0: try NpyArray(path: base + "h0.npy"),
      c0: try optional("c0.npy"), out: try NpyArray(path: base + "out.npy"),
      hn: try NpyArray(path: base + "hn.npy"), cn: try optional("cn.npy"))
  }

  /// A state holding this case's h0 (and c0).
  func initialState() throws -> RecurrentState {
    var state = model.makeState()
    try state.setH(h0.values)
    if let c0 { try state.setC(c0.values) }
    return state
  }
}

/// Largest |a - b| over two equal-length arrays (infinity when the lengths differ).
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Steps `model` over `frames` frame by frame (the real-time path), returning all outputs.
func stepAll(_ model: RecurrentModel, frames: [Float], state: inout RecurrentState) -> [Float] {
  model.stepEach(frames: frames, frameCount: frames.count / model.inputSize, state: &state)
}
