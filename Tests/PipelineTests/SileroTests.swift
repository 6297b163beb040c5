import AllocationCounter
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent
import Replay
import StreamCore
import Testing

let sileroModel = root + "/Sources/CBundledModels/silero_vad_16k.safetensors"
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
    #expect(PackedConvFrontend(frontend: frontend).stftUsesFFT, "Silero's STFT basis is a windowed DFT")
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

  /// `resetContext()` at a chunk boundary: the chunks after it are a new stream's; inside a chunk:
  /// that chunk keeps its context and samples, the one after it starts from zeros.
  @Test func resetContextStartsTheNextChunkAsANewStream() throws {
    let loaded = try ModelLoader.loadWithFeatures(path: sileroModel)
    guard case .learned(let frontend)? = loaded.features else {
      Issue.record("the Silero model has a learned frontend")
      return
    }
    let samples = try MonoAudioStream(path: sileroFolder + "/speech_noise.wav").readAll()
    let chunk = frontend.chunkSamples
    let frameFloats = frontend.featureCount
    func frames(_ range: Range<Int>, resetAt: Int? = nil) -> [Float] {
      let extractor = ConvFrontendExtractor(frontend: frontend)
      var output: [Float] = []
      samples.withUnsafeBufferPointer { all in
        if let resetAt {
          extractor.push(UnsafeBufferPointer(rebasing: all[range.lowerBound..<resetAt])) { output += $0 }
          extractor.resetContext()
          extractor.push(UnsafeBufferPointer(rebasing: all[resetAt..<range.upperBound])) { output += $0 }
        } else {
          extractor.push(UnsafeBufferPointer(rebasing: all[range])) { output += $0 }
        }
      }
      return output
    }
    let whole = frames(0..<(chunk * 12))
    // At the boundary after chunk 5.
    let atBoundary = frames(0..<(chunk * 12), resetAt: chunk * 5)
    let newStream = frames((chunk * 5)..<(chunk * 12))
    #expect(Array(atBoundary.prefix(5 * frameFloats)) == Array(whole.prefix(5 * frameFloats)))
    #expect(Array(atBoundary.dropFirst(5 * frameFloats)) == newStream)
    #expect(Array(atBoundary.dropFirst(5 * frameFloats)) != Array(whole.dropFirst(5 * frameFloats)))
    // Inside chunk 5 (100 samples in): chunk 5 as without the reset, chunk 6 on from zeros.
    let inside = frames(0..<(chunk * 12), resetAt: chunk * 5 + 100)
    #expect(Array(inside.prefix(6 * frameFloats)) == Array(whole.prefix(6 * frameFloats)))
    let fromSix = frames((chunk * 6)..<(chunk * 12))
    #expect(Array(inside.dropFirst(6 * frameFloats)) == fromSix)
  }
}

@Suite("Speech segments follow get_speech_timestamps")
struct SegmentTests {
  struct Official: Decodable {
    struct Segment: Decodable, Equatable {
      let start: Int
      let end: Int
    }
    let timestamps: [Segment]
  }

  func official() throws -> [Official.Segment] {
    try JSONDecoder().decode(
      Official.self, from: Data(contentsOf: URL(fileURLWithPath: sileroFolder + "/timestamps.json"))
    ).timestamps
  }

  func segments(_ probabilities: [Float], total: Int) -> (segments: [Official.Segment], starts: [Int]) {
    var detector = SegmentDetector(chunkSamples: 512, sampleRate: 16000)
    var segments: [Official.Segment] = []
    var starts: [Int] = []
    func collect(_ event: StreamEvent) {
      switch event {
      case .speechSegment(let start, let end): segments.append(.init(start: start, end: end))
      case .speechStart(let sample): starts.append(sample)
      case .speechDiscarded(let sample): starts.removeAll { $0 == sample }
      case .onset, .offset: Issue.record("the segment detector emitted a label event")
      }
    }
    for probability in probabilities { detector.process(probability) { collect($0) } }
    detector.finish(totalSamples: total) { collect($0) }
    return (segments, starts)
  }

  @Test func theOfficialProbabilitiesGiveTheOfficialSegments() throws {
    let probabilities = try NpyArray(path: sileroFolder + "/probabilities.npy").values
    let total = try MonoAudioStream(path: sileroFolder + "/speech_noise.wav").readAll().count
    let expected = try official()
    #expect(expected.count >= 3)
    let result = segments(probabilities, total: total)
    #expect(result.segments == expected)
    // Every kept segment was announced at its (padded) start.
    #expect(result.starts == expected.map(\.start))
  }

  @Test func ourProbabilitiesGiveTheOfficialSegmentsWithinOneChunk() throws {
    let loaded = try ModelLoader.loadWithFeatures(path: sileroModel)
    let (sink, _) = try replay(
      model: loaded.model, features: loaded.features!, path: sileroFolder + "/speech_noise.wav", pace: .max)
    let total = try MonoAudioStream(path: sileroFolder + "/speech_noise.wav").readAll().count
    let ours = segments(sink.outputs, total: total).segments
    let expected = try official()
    #expect(ours.count == expected.count)
    for (mine, theirs) in zip(ours, expected) {
      #expect(
        abs(mine.start - theirs.start) <= 512 && abs(mine.end - theirs.end) <= 512, "\(mine) vs \(theirs)")
    }
  }

  @Test func shortBlipsAreDiscardedAfterBeingAnnounced() {
    // 3 chunks of speech (96 ms < 250 ms), then silence: announced, then discarded, no segment.
    let probabilities: [Float] = [0.1, 0.9, 0.9, 0.9] + [Float](repeating: 0.05, count: 20)
    var events: [StreamEvent] = []
    var detector = SegmentDetector(chunkSamples: 512, sampleRate: 16000)
    for probability in probabilities { detector.process(probability) { events.append($0) } }
    detector.finish(totalSamples: probabilities.count * 512) { events.append($0) }
    #expect(events == [.speechStart(sample: 512 - 480), .speechDiscarded(sample: 512 - 480)])
  }
}

@Suite("Reset after silence")
struct ResetTests {
  @Test func aResetStreamContinuesLikeAFreshOne() throws {
    let loaded = try ModelLoader.loadWithFeatures(path: sileroModel)
    let features = loaded.features!
    let path = sileroFolder + "/speech_noise.wav"
    // Offline: every frontend frame of the file.
    let extractor = try features.makeExtractor()
    var frames: [Float] = []
    try MonoAudioStream(path: path).forEachBlock { block in
      extractor.push(block) { frames.append(contentsOf: $0) }
    }
    extractor.finish { frames.append(contentsOf: $0) }

    let sink = MemorySink()
    let runner = try StreamRunner(
      model: loaded.model, features: features, sink: sink, observers: [try SilenceResetPolicy(seconds: 0.5)])
    let report = try runner.run(source: try ReplaySource(path: path, sampleRate: 16000, pace: .max))
    #expect(report.resetFrames.count >= 2, "resets at \(report.resetFrames)")
    // From each reset on, the outputs equal a fresh state stepped over the same frames.
    for (number, resetFrame) in report.resetFrames.enumerated() {
      let end = number + 1 < report.resetFrames.count ? report.resetFrames[number + 1] : report.frames
      var fresh = loaded.model.makeState()
      var expected = loaded.model.run(
        sequence: Array(frames[(resetFrame * 128)..<(end * 128)]), frameCount: end - resetFrame, state: &fresh
      )
      // One output per frame: the sigmoid applies element by element.
      expected.withUnsafeMutableBufferPointer { loaded.model.applyHeadActivation($0) }
      #expect(Array(sink.outputs[resetFrame..<end]) == expected, "after the reset at frame \(resetFrame)")
    }
    // Without the policy nothing is reset (results equal the official model's).
    let (_, plain) = try replay(model: loaded.model, features: features, path: path, pace: .max)
    #expect(plain.resetFrames.isEmpty)
  }
}
