// Streams frames through a model one step at a time, the way live audio will, and prints what a
// user sees per frame. With PyTorch's logits for the same frames, also prints the largest deviation.
//
//   swift run -c release StepExample MODEL.safetensors FRAMES.npy [PYTORCH_LOGITS.npy]
import Foundation
import ModelIO
import Recurrent

let arguments = CommandLine.arguments
guard (3...4).contains(arguments.count) else {
  FileHandle.standardError.write(
    Data("usage: StepExample MODEL.safetensors FRAMES.npy [PYTORCH_LOGITS.npy]\n".utf8))
  exit(2)
}
do {
  let model = try ModelLoader.load(path: arguments[1])
  let frames = try NpyArray(path: arguments[2])
  guard frames.shape.count == 2, frames.shape[1] == model.inputSize else {
    throw ModelFileError(
      path: arguments[2], reason: "shape \(frames.shape), expected [T, \(model.inputSize)]")
  }
  let labels = model.head?.labels ?? (0..<model.outputSize).map { "out\($0)" }
  print(
    "model: \(model.kind.rawValue) \(model.layerCount)x\(model.hiddenSize), input \(model.inputSize), "
      + "outputs \(labels.joined(separator: "|")), \(frames.shape[0]) frames")

  var state = try model.makeStepState()  // h and c start at zero and carry across steps
  var logits = [Float](repeating: 0, count: frames.shape[0] * model.outputSize)
  var probabilities = [Float](repeating: 0, count: model.outputSize)  // reused every frame
  frames.values.withUnsafeBufferPointer { input in
    logits.withUnsafeMutableBufferPointer { output in
      for t in 0..<frames.shape[0] {
        let frame = UnsafeBufferPointer(rebasing: input[(t * model.inputSize)..<((t + 1) * model.inputSize)])
        let out = UnsafeMutableBufferPointer(
          rebasing: output[(t * model.outputSize)..<((t + 1) * model.outputSize)])
        model.step(frame, state: &state, output: out)
        probabilities.withUnsafeMutableBufferPointer { probabilities in
          _ = probabilities.initialize(from: out)
          model.applyHeadActivation(probabilities)
        }
        if t < 5 || t == frames.shape[0] - 1 {
          let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
          let shown = zip(labels, probabilities).map { "\($0)=\(String(format: "%.4f", $1))" }
          print("frame \(t): \(shown.joined(separator: " ")) -> \(labels[best])")
        } else if t == 5 {
          print("…")
        }
      }
    }
  }
  if arguments.count == 4 {
    let expected = try NpyArray(path: arguments[3])
    guard expected.values.count == logits.count else {
      throw ModelFileError(
        path: arguments[3],
        reason: "shape \(expected.shape), expected [\(frames.shape[0]), \(model.outputSize)]")
    }
    let deviation = zip(expected.values, logits).map { abs($0 - $1) }.max() ?? 0
    print("max |logit - PyTorch| over \(frames.shape[0]) frames: \(deviation) (bar: 1e-5)")
    if deviation > 1e-5 { exit(1) }
  }
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
