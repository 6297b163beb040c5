import Features
import Layers
import ModelIO
import Recurrent

/// Runs a loaded model (and its features or frontend) over a little audio: sizes that passed
/// validation must also be sizes the kernels can run.
func exercise(_ model: RecurrentModel, _ features: FeatureConfiguration?) {
  guard !model.isBidirectional, let features, let extractor = try? features.makeExtractor(),
    features.featureCount == model.inputSize, var state = try? model.makeStepState()
  else { return }
  var output = [Float](repeating: 0, count: model.outputSize)
  let samples = [Float](repeating: 0.01, count: 2048)
  samples.withUnsafeBufferPointer { block in
    output.withUnsafeMutableBufferPointer { output in
      extractor.push(block) { frame in
        model.step(frame, state: &state, output: output)
        model.applyHeadActivation(output)
      }
    }
  }
}

/// Runs a loaded chain over a few frames: sizes that passed validation must run.
func run(_ chain: LayerChain, _ features: FeatureConfiguration?) {
  let frames = [Float](repeating: 0.01, count: chain.inputSize * 8)
  _ = chain.run(sequence: frames, frameCount: 8, state: chain.makeState())
  _ = features
}

/// libFuzzer entry point: any bytes as a model file (safetensors header, tensor table, metadata,
/// features and frontend), loaded as `streamrnn` loads it and then run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let file = try? SafeTensorsFile(bytes: bytes, path: "fuzz.safetensors") else { return 0 }
  if let loaded = try? ModelLoader.loadWithFeatures(file: file, path: "fuzz.safetensors") {
    exercise(loaded.model, loaded.features)
  }
  // Any model as a chain of layers (a `graph` entry, or the recurrent stack as one layer).
  if let loaded = try? ModelLoader.loadChain(file: file, path: "fuzz.safetensors") {
    run(loaded.chain, loaded.features)
  }
  return 0
}
