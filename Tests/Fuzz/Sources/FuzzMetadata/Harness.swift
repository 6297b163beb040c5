import Features
import Layers
import ModelIO
import Recurrent

/// Tensors for a small learned frontend: a 3-bin STFT basis over 8 samples, one conv 3 → 4, k 3.
let frontendTensors: [String: FloatTensor] = [
  "frontend.stft.basis": FloatTensor(shape: [6, 1, 8], values: (0..<48).map { Float($0 % 5) * 0.1 }),
  "frontend.conv0.weight": FloatTensor(shape: [4, 3, 3], values: (0..<36).map { Float($0 % 7) * 0.05 }),
  "frontend.conv0.bias": FloatTensor(shape: [4], values: [0.1, 0, -0.1, 0.2]),
]

/// Tensors a `graph` entry may name: a linear [4, 3] with bias, a conv [4, 4, 2], a GRU 4 → 3 under
/// `rnn.`, vectors of 3 and 4.
let graphTensors: [String: FloatTensor] = [
  "w": FloatTensor(shape: [4, 3], values: (0..<12).map { Float($0 % 5) * 0.1 }),
  "b": FloatTensor(shape: [4], values: [0.1, 0.2, 0.3, 0.4]),
  "c": FloatTensor(shape: [4, 4, 2], values: (0..<32).map { Float($0 % 3) * 0.1 }),
  "v3": FloatTensor(shape: [3], values: [1, 2, 3]),
  "v4": FloatTensor(shape: [4], values: [0.5, 1, 1.5, 2]),
  "rnn.weight_ih_l0": FloatTensor(shape: [9, 4], values: (0..<36).map { Float($0 % 7) * 0.05 }),
  "rnn.weight_hh_l0": FloatTensor(shape: [9, 3], values: (0..<27).map { Float($0 % 4) * 0.05 }),
]

/// Pushes a little audio through an extractor (sizes that passed validation must run).
func run(_ features: FeatureConfiguration) {
  guard let extractor = try? features.makeExtractor() else { return }
  let samples = [Float](repeating: 0.01, count: 3000)
  var sum: Float = 0
  samples.withUnsafeBufferPointer { block in extractor.push(block) { sum += $0[0] } }
  extractor.finish { sum += $0[0] }
}

/// libFuzzer entry point: the bytes as the text of a `features` and of a `frontend` metadata
/// value, parsed and, when accepted, run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  if let features = try? FeatureMetadata.parse(text, path: "fuzz") { run(features) }
  if let frontend = try? FrontendMetadata.parse(text, tensors: frontendTensors, path: "fuzz") {
    run(.learned(frontend))
  }
  if let chain = try? GraphMetadata.parse(text, tensors: graphTensors, labels: nil, path: "fuzz") {
    let frames = [Float](repeating: 0.01, count: chain.inputSize * 6)
    _ = chain.run(sequence: frames, frameCount: 6, state: chain.makeState())
  }
  return 0
}
