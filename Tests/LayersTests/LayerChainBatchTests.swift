import Layers
import ModelIO
import Recurrent
import Testing

@Suite("Batched chains equal streams stepped one by one")
struct LayerChainBatchTests {
  @Test(
    "Every stream's outputs, produced-or-not and final states equal its solo run bit for bit (batch sizes 1…24, ragged)",
    arguments: [
      "norm_linear_gru2_mlp", "causalconv_bn_lstmproj", "lstm_gru_layernorm", "depthwise_activations",
      "centred_convs", "stack_subsample", "keras_gru_textbook", "keras_conv_bn_gru", "keras_lstm_simplernn",
      "keras_conv_same_gru",
    ],
    RecurrentKernel.allCases.filter(\.isAvailable))
  func batchEqualsSolo(name: String, kernel: RecurrentKernel) throws {
    let folder = networkFolder + "/" + name
    let (chain, _) = try ModelLoader.loadChain(path: folder + "/model.safetensors", kernel: kernel)
    let frames = try NpyArray(path: folder + "/frames.npy")
    let frameCount = frames.shape[0]
    let inputSize = chain.inputSize
    let outputSize = chain.outputSize
    let streams = 24
    let solo = (0..<streams).map { _ in chain.makeState() }
    let batched = (0..<streams).map { _ in chain.makeState() }
    let batch = LayerChainBatch(chain: chain, capacity: streams)
    var counters = [Int](repeating: 0, count: streams)
    var soloOutput = [Float](repeating: 0, count: outputSize)
    var compared = 0
    var dropped = 0
    // Sizes 1…24 twice (so subsamplers and centred convolutions are at every phase), then rounds
    // where a third of the streams sit out, in reverse order.
    let ragged = Array((0..<streams).filter { $0 % 3 != 2 }.reversed())
    let schedules =
      (1...streams).map { Array(0..<$0) } + (1...streams).map { Array(0..<$0) }
      + Array(repeating: ragged, count: 6)
    try frames.values.withUnsafeBufferPointer { all in
      for members in schedules {
        var soloProduced: [Bool] = []
        var soloOutputs: [[Float]] = []
        for stream in members {
          let t = (stream * 5 + counters[stream]) % frameCount
          counters[stream] += 1
          let input = UnsafeBufferPointer(rebasing: all[(t * inputSize)..<((t + 1) * inputSize)])
          let produced = soloOutput.withUnsafeMutableBufferPointer { y in
            chain.step(input, state: solo[stream], output: y)
          }
          soloProduced.append(produced)
          soloOutputs.append(soloOutput)
          batch.append(batched[stream], input: input)
        }
        chain.stepBatch(batch)
        for entry in 0..<members.count {
          try #require(batch.producedOutput(entry) == soloProduced[entry], "\(name): produced flags differ")
          if soloProduced[entry] {
            #expect(
              Array(batch.output(entry)) == soloOutputs[entry], "\(name) [\(kernel)] stream \(members[entry])"
            )
            compared += 1
          } else {
            dropped += 1
          }
        }
        batch.removeAll()
      }
    }
    #expect(compared > 300)
    for stream in 0..<streams {
      for (a, b) in zip(solo[stream].recurrent, batched[stream].recurrent) {
        #expect(a.h == b.h && a.c == b.c, "\(name): final state of stream \(stream)")
      }
    }
    if chain.outputInterval > 1 || chain.lookahead > 0 { #expect(dropped > 0) }
  }
}
