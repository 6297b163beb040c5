// Loads a model, streams frames through it one step at a time and prints the outputs.
//
//   swift run StepExample Examples/models/tiny-gru.safetensors
import Foundation
import ModelIO
import Recurrent

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
  print("usage: StepExample MODEL.safetensors")
  exit(2)
}
do {
  let model = try ModelLoader.load(path: arguments[1])
  var state = try model.makeStepState()  // h and c start at zero and carry across steps
  var frame = [Float](repeating: 0, count: model.inputSize)
  var output = [Float](repeating: 0, count: model.outputSize)  // allocated once, reused per step
  for t in 0..<5 {
    for index in frame.indices { frame[index] = Float(index + t).truncatingRemainder(dividingBy: 3) - 1 }
    frame.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { out in
        model.step(input, state: &state, output: out)
        model.applyHeadActivation(out)
      }
    }
    print("frame \(t):", output.map { String(format: "%.4f", $0) }.joined(separator: " "))
  }
  state.reset()  // back to a fresh stream
} catch {
  print("error: \(error)")
  exit(1)
}
