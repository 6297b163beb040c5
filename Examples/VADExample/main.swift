// Voice activity detection with the library API: open a WAV, run Silero VAD chunk by chunk with
// its state carried, and print the speech segments (the same algorithm as get_speech_timestamps).
//
//   swift run -c release VADExample MODEL.safetensors AUDIO.wav
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
  FileHandle.standardError.write(Data("usage: VADExample MODEL.safetensors AUDIO.wav\n".utf8))
  exit(2)
}
do {
  let (model, features) = try ModelLoader.loadWithFeatures(path: arguments[1])
  guard let features else {
    throw ModelFileError(path: arguments[1], reason: "carries no features or frontend")
  }
  let extractor = try features.makeExtractor()  // Silero: 512-sample chunks with 64 of context
  var state = try model.makeStepState()
  var probability = [Float](repeating: 0, count: model.outputSize)
  var detector = SegmentDetector(chunkSamples: features.hopLength, sampleRate: features.sampleRate)
  func report(_ event: SegmentEvent) {
    if case .segment(let start, let end) = event {
      let rate = Double(features.sampleRate)
      print(String(format: "speech %7.3f s – %7.3f s", Double(start) / rate, Double(end) / rate))
    }
  }
  func step(_ frame: UnsafeBufferPointer<Float>) {
    probability.withUnsafeMutableBufferPointer { output in
      model.step(frame, state: &state, output: output)
      model.applyHeadActivation(output)  // sigmoid: the speech probability
    }
    detector.process(probability[0], emit: report)
  }
  let audio = try MonoAudioStream(path: arguments[2], outputRate: features.sampleRate)
  var samples = 0
  try audio.forEachBlock { block in
    samples += block.count
    extractor.push(block, emit: step)
  }
  extractor.finish(emit: step)
  detector.finish(totalSamples: samples, emit: report)
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
