import ModelIO
import Recurrent
import Testing

/// The float16 weight option (``WeightStorage/float16``): exact as arithmetic, approximate only by
/// the rounding of the weights.
@Suite("float16 weights")
struct HalfWeightTests {
  /// The bar against PyTorch's float32 outputs for float16 weights. Measured on the 17 golden cases
  /// (all kernels): worst 3.7e-4 (rnn_tanh_2x19), 3.0e-4 over the 10,000-step GRU run; 1.2e-7 on
  /// the case whose weights are float16 values already. See the README.
  static let pyTorchTolerance: Float = 1e-3

  @Test(
    "float16 storage is float32 arithmetic on the rounded weights, bit for bit",
    arguments: GoldenCase.names(), RecurrentKernel.available)
  func equalsRoundedWeights(name: String, kernel: RecurrentKernel) throws {
    let path = GoldenCase.folder + "/" + name + "/model.safetensors"
    let file = try SafeTensorsFile(path: path)
    // The same file with every weight matrix rounded to float16; biases stay exact, as the float16
    // path keeps them in float32.
    let rounded = file.tensors.sorted { $0.key < $1.key }.map { name, tensor in
      (
        name: name,
        tensor: name.contains("weight")
          ? FloatTensor(shape: tensor.shape, values: tensor.values.map { Float(Float16($0)) }) : tensor
      )
    }
    let roundedFile = try SafeTensorsFile(
      bytes: SafeTensorsFile.encoded(tensors: rounded, metadata: file.metadata), path: path)
    let reference = try ModelLoader.model(from: roundedFile, path: path, kernel: kernel)
    let half = try ModelLoader.model(from: file, path: path, kernel: kernel, weightStorage: .float16)
    #expect(half.weightStorage == .float16 && reference.weightStorage == .float32)
    let golden = try GoldenCase.load(name, kernel: kernel)
    var referenceState = reference.makeState()
    var halfState = half.makeState()
    try referenceState.setH(golden.h0.values)
    try halfState.setH(golden.h0.values)
    if let c0 = golden.c0 {
      try referenceState.setC(c0.values)
      try halfState.setC(c0.values)
    }
    let frames = golden.frames.values
    let frameCount = golden.frameCount
    let expected = reference.run(sequence: frames, frameCount: frameCount, state: &referenceState)
    let actual = half.run(sequence: frames, frameCount: frameCount, state: &halfState)
    #expect(actual == expected)
    #expect(halfState.h == referenceState.h && halfState.c == referenceState.c)
  }

  @Test(
    "float16 weights stay within the stated distance of PyTorch", arguments: GoldenCase.names(),
    RecurrentKernel.available)
  func closeToPyTorch(name: String, kernel: RecurrentKernel) throws {
    let golden = try GoldenCase.load(name, kernel: kernel, weightStorage: .float16)
    var state = try golden.initialState()
    let outputs: [Float]
    if golden.model.isBidirectional {
      outputs = golden.model.run(sequence: golden.frames.values, frameCount: golden.frameCount, state: &state)
    } else {
      outputs = stepAll(golden.model, frames: golden.frames.values, state: &state)
    }
    let difference = max(
      maxAbsDifference(outputs, golden.out.values), maxAbsDifference(state.h, golden.hn.values),
      golden.cn.map { maxAbsDifference(state.c, $0.values) } ?? 0)
    #expect(difference <= Self.pyTorchTolerance, "\(name) [\(kernel)]: \(difference)")
    // Not exact: a float16 run that matched float32 to the last bit would mean the option did nothing.
    #expect(difference > 0, "\(name) [\(kernel)]")
  }
}
