import AllocationCounter
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent
import Testing

let sileroModel = root + "/Models/silero_vad_16k.safetensors"
let sileroFolder = root + "/Tests/Golden/silero"

@Suite("Silero VAD equals the official model")
struct SileroTests {
  @Test func perChunkProbabilitiesOverAWholeStatefulRun() throws {
    let loaded = try ModelLoader.loadWithFeatures(path: sileroModel)
    let features = try #require(loaded.features)
    guard case .learned(let frontend) = features else {
      Issue.record("the Silero model carries no learned frontend")
      return
    }
    #expect(frontend.chunkSamples == 512 && frontend.contextSamples == 64 && frontend.featureCount == 128)
    #expect(loaded.model.kind == .lstm && loaded.model.head?.labels == ["speech"])
    let expected = try NpyArray(path: sileroFolder + "/probabilities.npy")
    #expect(expected.values.count >= 600)
    let (sink, report) = try replay(
      model: loaded.model, features: features, path: sileroFolder + "/speech_noise.wav", pace: .max)
    #expect(report.frames == expected.values.count && report.dropped == 0)
    // The bar: |Δ| ≤ 1e-4 per chunk against the official TorchScript model, stateful throughout.
    let worst = zip(sink.outputs, expected.values).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst <= 1e-4, "max |Δ| \(worst)")
  }

  @Test func anyBlockSizesGiveTheSameFramesAndNothingIsAllocated() throws {
    let loaded = try ModelLoader.loadWithFeatures(path: sileroModel)
    guard case .learned(let frontend)? = loaded.features else { return }
    let samples = Array(
      try MonoAudioStream(path: sileroFolder + "/speech_noise.wav").readAll().prefix(512 * 60 + 77))
    func frames(blocks: Int) -> [Float] {
      let extractor = ConvFrontendExtractor(frontend: frontend)
      var output: [Float] = []
      samples.withUnsafeBufferPointer { all in
        for start in stride(from: 0, to: all.count, by: blocks) {
          extractor.push(UnsafeBufferPointer(rebasing: all[start..<min(all.count, start + blocks)])) {
            output.append(contentsOf: $0)
          }
        }
      }
      extractor.finish { output.append(contentsOf: $0) }
      return output
    }
    let whole = frames(blocks: samples.count)
    for blocks in [1, 7, 160, 511, 4096] { #expect(frames(blocks: blocks) == whole, "blocks of \(blocks)") }

    let extractor = ConvFrontendExtractor(frontend: frontend)
    var checksum: Float = 0
    let allocations = samples.withUnsafeBufferPointer { all in
      extractor.push(UnsafeBufferPointer(rebasing: all[0..<1024])) { checksum += $0[0] }
      allocation_counter_start()
      for start in stride(from: 1024, to: 1024 + 512 * 50, by: 160) {
        extractor.push(UnsafeBufferPointer(rebasing: all[start..<(start + 160)])) { checksum += $0[0] }
      }
      return allocation_counter_stop()
    }
    #expect(allocations == 0)
    #expect(checksum.isFinite)
  }
}
