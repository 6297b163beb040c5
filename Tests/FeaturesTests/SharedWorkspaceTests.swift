import Features
import Foundation
import StreamCore
import Testing

@Suite("Extractors sharing a workspace")
struct SharedWorkspaceTests {
  /// A deterministic test signal: two tones and a little noise, different per stream.
  static func signal(_ count: Int, seed: Int) -> [Float] {
    var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { index in
      state = state &* 6_364_136_223_846_793_005 &+ 1
      let noise = Float(Int64(bitPattern: state >> 11) % 1000) / 50_000
      let t = Float(index) / 16000
      return 0.3 * sinf(2 * .pi * Float(200 + 90 * seed) * t) + 0.1 * sinf(2 * .pi * 3100 * t) + noise
    }
  }

  /// Every frame of `extractor` over `samples` pushed in blocks of `block`, then finished.
  static func frames(_ extractor: any FeatureExtractor, _ samples: [Float], block: Int) -> [[Float]] {
    var result: [[Float]] = []
    samples.withUnsafeBufferPointer { all in
      var start = 0
      while start < all.count {
        let end = min(all.count, start + block)
        extractor.push(UnsafeBufferPointer(rebasing: all[start..<end])) { result.append(Array($0)) }
        start = end
      }
    }
    extractor.finish { result.append(Array($0)) }
    return result
  }

  @Test("Log-mel streams interleaved on one workspace equal each stream alone", arguments: [false, true])
  func logMelStreamsInterleavedEqualSolo(center: Bool) throws {
    var configuration = LogMelConfiguration()
    configuration.center = center
    let factory = try FeatureExtractorFactory(.logmel(configuration))
    let workspace = factory.makeWorkspace()
    let signals = (0..<3).map { Self.signal(8000 + 1234 * $0, seed: $0) }
    let solo = try signals.map { Self.frames(try factory.make(), $0, block: 333) }
    let shared = try signals.map { _ in try factory.make(sharing: workspace) }
    var outputs: [[[Float]]] = [[], [], []]
    // Round-robin blocks of different sizes: each extractor's frames come out between the others'.
    var positions = [0, 0, 0]
    while (0..<3).contains(where: { positions[$0] < signals[$0].count }) {
      for stream in 0..<3 where positions[stream] < signals[stream].count {
        let end = min(signals[stream].count, positions[stream] + 97 + 211 * stream)
        signals[stream].withUnsafeBufferPointer { all in
          shared[stream].push(UnsafeBufferPointer(rebasing: all[positions[stream]..<end])) {
            outputs[stream].append(Array($0))
          }
        }
        positions[stream] = end
      }
    }
    for stream in 0..<3 {
      shared[stream].finish { outputs[stream].append(Array($0)) }
      #expect(outputs[stream].count == solo[stream].count && !solo[stream].isEmpty)
      #expect(outputs[stream] == solo[stream], "stream \(stream)")
    }
  }

  @Test func aWorkspaceOfAnotherConfigurationIsRefused() throws {
    var other = LogMelConfiguration()
    other.nMels = 64
    let workspace = try LogMelWorkspace(configuration: other)
    #expect(throws: FeatureConfigurationError.self) {
      _ = try LogMelExtractor(configuration: LogMelConfiguration(), workspace: workspace)
    }
  }
}
