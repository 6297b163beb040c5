import Foundation
import Layers
import ModelIO
import Recurrent
import Testing

let networkFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../Golden/network").standardized.path

@Suite("Layer graphs equal PyTorch (Scripts/make_network_golden.py)")
struct GraphGoldenTests {
  @Test(
    "Every output within 1e-5 of PyTorch's, on every kernel this CPU runs",
    arguments: [
      "norm_linear_gru2_mlp", "causalconv_bn_lstmproj", "lstm_gru_layernorm", "depthwise_activations",
      "centred_convs", "stack_subsample",
    ],
    RecurrentKernel.allCases.filter(\.isAvailable))
  func matchesPyTorch(name: String, kernel: RecurrentKernel) throws {
    let folder = networkFolder + "/" + name
    let (chain, _) = try ModelLoader.loadChain(path: folder + "/model.safetensors", kernel: kernel)
    let frames = try NpyArray(path: folder + "/frames.npy")
    let expected = try NpyArray(path: folder + "/out.npy")
    #expect(frames.shape[0] >= 1000 && frames.shape[1] == chain.inputSize)
    #expect(expected.shape[0] == (frames.shape[0] + chain.outputInterval - 1) / chain.outputInterval)
    let state = chain.makeState()
    let actual = chain.run(sequence: frames.values, frameCount: frames.shape[0], state: state)
    #expect(actual.count == expected.values.count)
    let difference = maxDifference(actual, expected.values)
    #expect(difference <= 1e-5, "\(name) on \(kernel): max |Δ| \(difference)")
    // Every recurrent layer's final h (and c) equals PyTorch's h_n (c_n), same bar.
    #expect(!state.recurrent.isEmpty)
    for (index, recurrent) in state.recurrent.enumerated() {
      let h = try NpyArray(path: folder + "/h_n_\(index).npy")
      #expect(maxDifference(recurrent.h, h.values) <= 1e-5, "\(name) h_n of recurrent layer \(index)")
      if FileManager.default.fileExists(atPath: folder + "/c_n_\(index).npy") {
        let c = try NpyArray(path: folder + "/c_n_\(index).npy")
        #expect(maxDifference(recurrent.c, c.values) <= 1e-5, "\(name) c_n of recurrent layer \(index)")
      }
    }
  }

  @Test(
    "Keras models converted by Scripts/convert_keras.py: within 1e-5 of Keras, after its activation",
    arguments: ["keras_gru_textbook", "keras_conv_bn_gru", "keras_lstm_simplernn", "keras_conv_same_gru"],
    RecurrentKernel.allCases.filter(\.isAvailable))
  func matchesKeras(name: String, kernel: RecurrentKernel) throws {
    let folder = networkFolder + "/" + name
    let (chain, _) = try ModelLoader.loadChain(path: folder + "/model.safetensors", kernel: kernel)
    let frames = try NpyArray(path: folder + "/frames.npy")
    let expected = try NpyArray(path: folder + "/out.npy")
    var actual = chain.run(sequence: frames.values, frameCount: frames.shape[0], state: chain.makeState())
    actual.withUnsafeMutableBufferPointer { all in
      for start in stride(from: 0, to: all.count, by: chain.outputSize) {
        chain.applyHeadActivation(
          UnsafeMutableBufferPointer(rebasing: all[start..<(start + chain.outputSize)]))
      }
    }
    #expect(frames.shape[0] >= 1000 && actual.count == expected.values.count)
    let difference = maxDifference(actual, expected.values)
    #expect(difference <= 1e-5, "\(name) on \(kernel): max |Δ| \(difference)")
  }

  @Test(
    "Keras Bidirectional layers run offline (OfflineChain) within 1e-5; the streaming loader refuses them",
    arguments: RecurrentKernel.allCases.filter(\.isAvailable))
  func bidirectionalRunsOffline(kernel: RecurrentKernel) throws {
    let folder = networkFolder + "/keras_bidirectional"
    let path = folder + "/model.safetensors"
    let file = try SafeTensorsFile(path: path)
    let (chain, _) = try ModelLoader.loadOfflineChain(file: file, path: path, kernel: kernel)
    #expect(chain.needsWholeSequence)
    let frames = try NpyArray(path: folder + "/frames.npy")
    let expected = try NpyArray(path: folder + "/out.npy")
    var actual = chain.run(sequence: frames.values, frameCount: frames.shape[0])
    actual.withUnsafeMutableBufferPointer { all in
      for start in stride(from: 0, to: all.count, by: chain.outputSize) {
        chain.applyHeadActivation(
          UnsafeMutableBufferPointer(rebasing: all[start..<(start + chain.outputSize)]))
      }
    }
    #expect(frames.shape[0] >= 1000 && actual.count == expected.values.count)
    let difference = maxDifference(actual, expected.values)
    #expect(difference <= 1e-5, "keras_bidirectional on \(kernel): max |Δ| \(difference)")
    #expect {
      _ = try ModelLoader.loadChain(path: path, kernel: kernel)
    } throws: { error in
      "\(error)".contains("layer 0 (lstm): bidirectional: it needs the future") && !"\(error)".contains("\n")
    }
  }

  @Test func anOfflineChainWithoutBidirectionalLayersEqualsTheStreamingOne() throws {
    let path = networkFolder + "/centred_convs/model.safetensors"
    let (streaming, _) = try ModelLoader.loadChain(path: path)
    let (offline, _) = try ModelLoader.loadOfflineChain(file: try SafeTensorsFile(path: path), path: path)
    let frames = try NpyArray(path: networkFolder + "/centred_convs/frames.npy")
    #expect(!offline.needsWholeSequence)
    #expect(
      offline.run(sequence: frames.values, frameCount: frames.shape[0])
        == streaming.run(sequence: frames.values, frameCount: frames.shape[0], state: streaming.makeState()))
  }

  @Test func anOrdinaryModelLoadsAsAOneLayerChain() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
      .standardized.path
    let path = root + "/Examples/demo/gru2x64-head2.safetensors"
    let model = try ModelLoader.load(path: path)
    let (chain, features) = try ModelLoader.loadChain(path: path)
    #expect(chain.labels == ["quiet", "active"] && chain.headActivation == .softmax && features != nil)
    let frames = values(40 * 100, seed: 3)
    var state = try model.makeStepState()
    #expect(
      chain.run(sequence: frames, frameCount: 100, state: chain.makeState())
        == model.stepEach(frames: frames, frameCount: 100, state: &state))
    #expect(throws: ModelFileError.self) {
      try ModelLoader.load(path: networkFolder + "/lstm_gru_layernorm/model.safetensors")
    }
  }

  func graphError(_ graph: String, tensors: [String: FloatTensor]) -> String? {
    do {
      _ = try GraphMetadata.parse(graph, tensors: tensors, labels: nil, path: "g.safetensors")
      return nil
    } catch { return error.description }
  }

  @Test func badGraphsAreOneLineNamingTheLayer() {
    let w = FloatTensor(shape: [3, 4], values: values(12, seed: 1))
    let b = FloatTensor(shape: [3], values: values(3, seed: 2))
    let linear = #"{"type": "linear", "weight": "w", "bias": "b"}"#
    func graph(_ layers: String, version: Int = 1) -> String {
      #"{"version": \#(version), "layers": [\#(layers)]}"#
    }
    #expect(graphError(graph(linear), tensors: ["w": w, "b": b]) == nil)
    let stacked = #"{"type": "frame_stack", "frames": 2, "size": 2}, "# + linear
    #expect(graphError(graph(stacked), tensors: ["w": w, "b": b]) == nil)
    let cases: [(String, [String: FloatTensor], String)] = [
      (graph(linear, version: 2), ["w": w, "b": b], "'version' must be 1"),
      (graph(#"{"type": "attention"}"#), [:], "layer 0 (attention): unknown layer type"),
      (graph(#"{"type": "linear", "weight": "missing"}"#), [:], "tensor 'missing' is not in the file"),
      (graph(linear), ["w": w, "b": b, "extra": b], "tensor 'extra' is used by no layer"),
      (graph(linear + "," + linear), ["w": w, "b": b], "takes 4 features but layer 0 (linear) gives 3"),
      (
        graph(#"{"type": "linear", "weight": "w", "bias": "b", "scale": 2}"#), ["w": w, "b": b],
        "unknown key 'scale'"
      ),
      (
        graph(linear + #", {"type": "activation", "function": "mish"}"#), ["w": w, "b": b],
        "unknown activation 'mish'"
      ),
      (
        graph(#"{"type": "conv1d", "weight": "w", "padding": "same"}"#), ["w": w],
        "'padding' must be causal or centred"
      ),
      (graph(#"{"type": "gru", "prefix": "rnn."}"#), [:], "layer 0 (gru)"),
      (#"{"version": 1, "layers": []}"#, [:], "'layers' must be a list"),
      (graph(#"{"type": "frame_stack", "frames": 2}, "# + linear), ["w": w, "b": b], "needs a 'size'"),
      (
        graph(linear + #", {"type": "subsample", "every": 2, "size": 5}"#), ["w": w, "b": b],
        "'size' 5 but the layer before gives 3"
      ),
      (
        graph(#"{"type": "frame_stack", "frames": 1024, "size": 4096}"#), [:],
        "frames × size at most 2^20"
      ),
    ]
    for (text, tensors, expected) in cases {
      let message = graphError(text, tensors: tensors)
      #expect(message?.contains(expected) == true, "\(message ?? "accepted"), expected \(expected)")
      #expect(message.map { !$0.contains("\n") } ?? true)
    }
  }
}
