import Features
import Foundation
import Testing

@Suite("LaneFFT: batched real FFTs")
struct LaneFFTTests {
  /// The magnitudes of a windowed DFT, in Double.
  func reference(_ frame: [Float], _ window: [Float]) -> [Double] {
    let size = frame.count
    return (0...(size / 2)).map { k in
      var re = 0.0
      var im = 0.0
      for n in 0..<size {
        let x = Double(frame[n]) * Double(window[n])
        let angle = 2 * Double.pi * Double(k * n) / Double(size)
        re += x * cos(angle)
        im -= x * sin(angle)
      }
      return (re * re + im * im).squareRoot()
    }
  }

  func frames(_ count: Int, _ size: Int, seed: UInt64) -> [[Float]] {
    var state = seed
    return (0..<count).map { _ in
      (0..<size).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
      }
    }
  }

  func run(_ fft: LaneFFT, _ input: [[Float]], _ window: [Float], power: Bool = false)
    -> [[Float]]
  {
    var outputs = input.map { _ in [Float](repeating: .nan, count: fft.bins) }
    let buffers = outputs.indices.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: fft.bins) }
    defer { for buffer in buffers { buffer.deallocate() } }
    let pointers = input.map { frame -> UnsafeMutablePointer<Float> in
      let copy = UnsafeMutablePointer<Float>.allocate(capacity: frame.count)
      copy.initialize(from: frame, count: frame.count)
      return copy
    }
    defer { for pointer in pointers { pointer.deallocate() } }
    let frames = pointers.map { UnsafePointer($0) }
    frames.withUnsafeBufferPointer { f in
      buffers.withUnsafeBufferPointer { o in
        window.withUnsafeBufferPointer { w in
          fft.transform(
            f.baseAddress!, count: input.count, window: w.baseAddress!, outputs: o.baseAddress!, power: power)
        }
      }
    }
    for index in outputs.indices {
      outputs[index] = Array(UnsafeBufferPointer(start: buffers[index], count: fft.bins))
    }
    return outputs
  }

  @Test(arguments: [4, 6, 10, 12, 16, 30, 40, 48, 60, 200, 256, 400, 512, 1000, 1024])
  func magnitudesEqualADoubleDFT(size: Int) throws {
    let fft = try #require(LaneFFT(size: size))
    #expect(fft.bins == size / 2 + 1)
    let window = (0..<size).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(size))) }
    let input = frames(16, size, seed: UInt64(size))
    let got = run(fft, input, window)
    for (frame, values) in zip(input, got) {
      let expected = reference(frame, window)
      let scale = expected.max() ?? 1
      let worst = zip(values, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
      #expect(worst <= 2e-6 * max(1, scale), "size \(size): max |Δ| \(worst) against a peak of \(scale)")
    }
    // Power is the square of the magnitude's pre-root value.
    let power = run(fft, Array(input.prefix(3)), window, power: true)
    for (p, m) in zip(power, got.prefix(3)) {
      for (a, b) in zip(p, m) { #expect(abs(a.squareRoot() - b) <= 1e-5 * max(1, b)) }
    }
  }

  @Test func aFrameAloneEqualsTheSameFrameInAnyBatchBitForBit() throws {
    for size in [256, 400, 30] {
      let fft = try #require(LaneFFT(size: size))
      let window = [Float](repeating: 1, count: size)
      let input = frames(16, size, seed: 7)
      let batch = run(fft, input, window)
      for count in [1, 5, 16] {
        let part = run(fft, Array(input.suffix(count)), window)
        #expect(part == Array(batch.suffix(count)), "size \(size), \(count) frames")
      }
      // The scalar transform, one frame at a time.
      let narrow = try #require(LaneFFT(size: size, lanes: 1))
      for index in [0, 9, 15] { #expect(run(narrow, [input[index]], window) == [batch[index]]) }
    }
  }

  @Test func sizesItCannotPlanAreRefused() {
    #expect(LaneFFT(size: 7) == nil)
    #expect(LaneFFT(size: 14) == nil, "7 is not a radix")
    #expect(LaneFFT(size: 2) == nil)
    #expect(LaneFFT(size: 131_072, lanes: 1) == nil)
    #expect(LaneFFT(size: 256, lanes: 8) == nil, "1 or 16 lanes")
  }
}

@Suite("A learned frontend's STFT as FFTs")
struct FrontendFFTTests {
  /// A Hann-windowed DFT basis `[2F, N]` (sine rows negative, as Silero's), with `nudge` added to
  /// one value.
  func basis(_ size: Int, nudge: Float = 0) -> [Float] {
    let bins = size / 2 + 1
    var values = [Float](repeating: 0, count: 2 * bins * size)
    for f in 0..<bins {
      for n in 0..<size {
        let w = 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(size))
        let angle = 2 * Double.pi * Double(f * n) / Double(size)
        values[f * size + n] = Float(w * cos(angle))
        values[(bins + f) * size + n] = Float(-w * sin(angle))
      }
    }
    values[3 * size + 5] += nudge
    return values
  }

  func frontend(_ basis: [Float], size: Int) throws -> ConvFrontend {
    let bins = size / 2 + 1
    var weights = [Float](repeating: 0, count: 8 * bins * 3)
    for index in weights.indices { weights[index] = Float((index * 37) % 11 - 5) / 50 }
    let conv = ConvLayer(
      weight: weights, bias: [Float](repeating: 0.01, count: 8), outChannels: 8, inChannels: bins, kernel: 3,
      stride: 1, padding: 1, relu: true)
    return try ConvFrontend(
      sampleRate: 16000, chunkSamples: 256, contextSamples: 32, hopLength: size / 2, padRight: size / 2,
      basis: basis, basisRows: 2 * bins, window: size, convs: [conv])
  }

  func run(_ frontend: ConvFrontend, _ samples: [Float]) -> [Float] {
    let extractor = ConvFrontendExtractor(frontend: frontend)
    var frames: [Float] = []
    samples.withUnsafeBufferPointer { extractor.push($0) { frames += Array($0) } }
    return frames
  }

  @Test func aWindowedDFTBasisRunsAsFFTsAndGivesTheProductsFrames() throws {
    let size = 64
    let exact = try frontend(basis(size), size: size)
    let nudged = try frontend(basis(size, nudge: 1e-5), size: size)
    #expect(PackedConvFrontend(frontend: exact).stftUsesFFT)
    #expect(!PackedConvFrontend(frontend: nudged).stftUsesFFT, "a basis off by 1e-5 is not a DFT")
    let samples = (0..<(256 * 6)).map { Float(sin(Double($0) * 0.071) + 0.3 * sin(Double($0) * 0.53)) }
    let fast = run(exact, samples)
    let product = run(nudged, samples)
    #expect(fast.count == product.count && !fast.isEmpty)
    let worst = zip(fast, product).map { abs($0 - $1) }.max() ?? .infinity
    let scale = product.map(abs).max() ?? 1
    #expect(worst <= 1e-4 * scale, "max |Δ| \(worst) against a peak of \(scale)")
  }

  @Test func otherBasesKeepTheProduct() throws {
    // Cosine rows of another length's DFT, and a basis with as many bins as a DFT but random rows.
    var random = basis(64)
    for index in random.indices { random[index] = Float((index * 7919) % 1000) / 1000 - 0.5 }
    #expect(!PackedConvFrontend(frontend: try frontend(random, size: 64)).stftUsesFFT)
    let bins = 33
    var flipped = basis(64)
    // Sine rows of mixed sign are not one DFT.
    for n in 0..<64 { flipped[(bins + 2) * 64 + n] = -flipped[(bins + 2) * 64 + n] }
    #expect(!PackedConvFrontend(frontend: try frontend(flipped, size: 64)).stftUsesFFT)
  }
}

@Suite("Log-mel frames transformed together")
struct LogMelBatchTests {
  @Test func framesWaitAndComeOutAsTheyWouldAlone() throws {
    var configuration = LogMelConfiguration()
    configuration.nMels = 40
    let workspace = try LogMelWorkspace(configuration: configuration)
    #expect(workspace.batches)
    let signal = (0..<16_000).map { index -> Float in
      let t = Double(index)
      return Float(sin(t * 0.031) * 0.4 + sin(t * 0.41) * 0.1)
    }
    // Alone: every frame as it completes.
    let alone = try LogMelExtractor(configuration: configuration)
    var expected: [[Float]] = []
    signal.withUnsafeBufferPointer { alone.push($0) { expected.append(Array($0)) } }
    // Three streams of the same signal at offsets, hop-sized pushes, frames waiting for a batch.
    var streams: [LogMelExtractor] = []
    for _ in 0..<3 { streams.append(try LogMelExtractor(configuration: configuration, workspace: workspace)) }
    for stream in streams { stream.defersFrames = true }
    #expect(streams.allSatisfy { $0.defersFrames })
    var got = [[[Float]]](repeating: [], count: 3)
    var batches = 0
    signal.withUnsafeBufferPointer { all in
      for start in stride(from: 0, to: all.count - 160, by: 160) {
        for (index, stream) in streams.enumerated() {
          stream.push(UnsafeBufferPointer(rebasing: all[start..<(start + 160)])) {
            got[index].append(Array($0))
          }
        }
        let waiting = streams.filter(\.hasDeferredFrame)
        guard !waiting.isEmpty else { continue }
        #expect(waiting.count == 3)
        batches += 1
        waiting.map { Unmanaged.passUnretained($0) }.withUnsafeBufferPointer {
          LogMelExtractor.processDeferred($0, workspace: workspace) { entry, frame in
            got[streams.firstIndex { $0 === waiting[entry] }!].append(Array(frame))
          }
        }
      }
    }
    #expect(batches > 90)
    for index in 0..<3 {
      #expect(got[index] == Array(expected.prefix(got[index].count)), "stream \(index)")
      #expect(got[index].count >= expected.count - 2)
    }
    // Deferral turned off while a frame waits: that frame still comes out first, then the next.
    let stream = try LogMelExtractor(configuration: configuration, workspace: workspace)
    stream.defersFrames = true
    var frames: [[Float]] = []
    signal.withUnsafeBufferPointer { all in
      stream.push(UnsafeBufferPointer(rebasing: all[0..<512])) { frames.append(Array($0)) }
      #expect(frames.isEmpty && stream.hasDeferredFrame)
      stream.defersFrames = false
      stream.push(UnsafeBufferPointer(rebasing: all[512..<672])) { frames.append(Array($0)) }
    }
    #expect(frames == Array(expected.prefix(2)))
  }
}
