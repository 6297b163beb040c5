import AllocationCounter
import AudioFile
import Features
import StreamCore
import Testing

/// Mono 16 kHz speech from the goldens, decoded once.
let speechSamples: [Float] = {
  (try? MonoAudioStream(path: FeatureGoldenCase.folder + "/audio/speech_16k_s16.wav").readAll()) ?? []
}()

func extractors() throws -> [(String, any FeatureExtractor)] {
  var centered = LogMelConfiguration()
  centered.center = true
  var oddHop = LogMelConfiguration()
  oddHop.hopLength = 600  // hop longer than the window: samples between frames are skipped
  return [
    ("logmel", try LogMelExtractor(configuration: LogMelConfiguration())),
    ("logmel center", try LogMelExtractor(configuration: centered)),
    ("logmel hop > n_fft", try LogMelExtractor(configuration: oddHop)),
    ("fbank", try FbankExtractor(configuration: FbankConfiguration())),
  ]
}

/// Pushes `samples` in blocks of the given sizes (cycled), then finishes; returns all frames.
func frames(of samples: [Float], through extractor: any FeatureExtractor, blocks: [Int]) -> [Float] {
  var output: [Float] = []
  samples.withUnsafeBufferPointer { all in
    var start = 0
    var blockIndex = 0
    while start < all.count {
      let end = min(all.count, start + blocks[blockIndex % blocks.count])
      extractor.push(UnsafeBufferPointer(rebasing: all[start..<end])) { output.append(contentsOf: $0) }
      start = end
      blockIndex += 1
    }
  }
  extractor.finish { output.append(contentsOf: $0) }
  return output
}

@Suite("Streaming extractors")
struct StreamingTests {
  @Test func anyBlockSizesGiveTheFramesOfOneBigPush() throws {
    #expect(speechSamples.count > 50_000)
    var generator = SystemRandomNumberGenerator()
    let randomBlocks = (0..<200).map { _ in Int.random(in: 1...5000, using: &generator) }
    for (name, extractor) in try extractors() {
      let whole = frames(of: speechSamples, through: extractor, blocks: [speechSamples.count])
      #expect(whole.count > 0)
      for blocks in [[1], [7], [160], [4096], [3, 1, 511, 2], randomBlocks] {
        // finish() resets, so the same extractor starts a fresh stream each time.
        #expect(
          frames(of: speechSamples, through: extractor, blocks: blocks) == whole,
          "\(name), blocks \(blocks.prefix(4))")
      }
    }
  }

  @Test func frameCountsFollowTorch() throws {
    // center=False: 1 + (N - n_fft) / hop; center=True: 1 + N / hop; fbank: 1 + (N - 400) / 160.
    for count in [0, 100, 256, 257, 511, 512, 513, 671, 672, 16_000] {
      let samples = (0..<count).map { Float(($0 * 37) % 101) / 101 - 0.5 }
      let all = try extractors()
      let causal = frames(of: samples, through: all[0].1, blocks: [333]).count / 40
      let centered = frames(of: samples, through: all[1].1, blocks: [333]).count / 40
      let fbank = frames(of: samples, through: all[3].1, blocks: [333]).count / 40
      #expect(causal == (count >= 512 ? 1 + (count - 512) / 160 : 0), "causal, \(count) samples")
      #expect(centered == (count > 256 ? 1 + count / 160 : 0), "centered, \(count) samples")
      #expect(fbank == (count >= 400 ? 1 + (count - 400) / 160 : 0), "fbank, \(count) samples")
    }
  }

  @Test func pushingAllocatesNothing() throws {
    for (name, extractor) in try extractors() {
      var checksum: Float = 0
      let allocations = speechSamples.withUnsafeBufferPointer { all in
        // Warm-up stream: first calls may instantiate runtime metadata.
        extractor.push(UnsafeBufferPointer(rebasing: all[0..<4000])) { checksum += $0[0] }
        extractor.finish { checksum += $0[0] }
        allocation_counter_start()
        var start = 0
        while start < all.count {
          let end = min(all.count, start + 160)
          extractor.push(UnsafeBufferPointer(rebasing: all[start..<end])) { checksum += $0[0] }
          start = end
        }
        extractor.finish { checksum += $0[0] }
        return allocation_counter_stop()
      }
      #expect(allocations == 0, "\(name)")
      #expect(checksum.isFinite)
    }
  }

  @Test func theAllocationCounterIsLive() {
    allocation_counter_start()
    let array = [Float](repeating: 1, count: Int.random(in: 50...60))
    #expect(allocation_counter_stop() >= 1 && array.count >= 50)
  }

  @Test func invalidConfigurationsAreOneLineErrors() {
    var logmel = LogMelConfiguration()
    logmel.nFFT = 511
    #expect(throws: FeatureConfigurationError.self) { try LogMelExtractor(configuration: logmel) }
    logmel = LogMelConfiguration()
    logmel.winLength = 1024
    #expect(throws: FeatureConfigurationError.self) { try LogMelExtractor(configuration: logmel) }
    logmel = LogMelConfiguration()
    logmel.fMax = 9000
    #expect(throws: FeatureConfigurationError.self) { try LogMelExtractor(configuration: logmel) }
    var fbank = FbankConfiguration()
    fbank.numMelBins = 3
    #expect(throws: FeatureConfigurationError.self) { try FbankExtractor(configuration: fbank) }
    fbank = FbankConfiguration()
    fbank.highFrequency = -9000
    #expect(throws: FeatureConfigurationError.self) { try FbankExtractor(configuration: fbank) }
    fbank = FbankConfiguration()
    fbank.sampleRate = 22050
    fbank.roundToPowerOfTwo = false  // 551-sample window: prime factors 19 and 29
    do {
      _ = try FbankExtractor(configuration: fbank)
      Issue.record("a 551-point FFT was accepted")
    } catch {
      #expect(error.description.contains("prime factor") && !error.description.contains("\n"))
    }
  }
}
