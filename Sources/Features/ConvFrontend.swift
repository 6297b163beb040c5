/// One Conv1d layer of a learned frontend: `[out, in, kernel]` weights (PyTorch layout), zero
/// padding, optional ReLU after it.
public struct ConvLayer: Sendable, Equatable {
  /// Output channels.
  public let outChannels: Int
  /// Input channels.
  public let inChannels: Int
  /// Kernel width.
  public let kernel: Int
  /// Stride over time.
  public let stride: Int
  /// Zeros added at both ends of time.
  public let padding: Int
  /// ReLU after the convolution.
  public let relu: Bool
  /// Weights re-laid `[out, kernel, in]` so each tap is a contiguous dot product over channels.
  let weights: [Float]
  /// `[out]`.
  let bias: [Float]

  /// From PyTorch's `weight` (`[out, in, kernel]`, row-major) and `bias` (`[out]`).
  public init(
    weight: [Float], bias: [Float], outChannels: Int, inChannels: Int, kernel: Int, stride: Int, padding: Int,
    relu: Bool
  ) {
    precondition(weight.count == outChannels * inChannels * kernel && bias.count == outChannels)
    self.outChannels = outChannels
    self.inChannels = inChannels
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.relu = relu
    var relaid = [Float](repeating: 0, count: weight.count)
    for o in 0..<outChannels {
      for i in 0..<inChannels {
        for k in 0..<kernel {
          relaid[(o * kernel + k) * inChannels + i] = weight[(o * inChannels + i) * kernel + k]
        }
      }
    }
    weights = relaid
    self.bias = bias
  }

  func outputLength(_ input: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }
}

/// A learned frontend that turns each chunk of audio into recurrent-stack input frames, as
/// Silero VAD and CRNN sound-event detectors do: an STFT computed as a convolution with a fixed
/// basis, its magnitude, then Conv1d layers.
///
/// Per chunk: the input is the last `contextSamples` of the previous input (zeros at the start)
/// followed by `chunkSamples` new samples, reflect-padded by `padRight` at the end; the basis
/// (`[2F, window]`: F real rows, then F imaginary rows) slides over it with `hopLength`;
/// `sqrt(re² + im²)` gives `[F, T]`; each conv layer maps `[in, T]` to `[out, T']`. Every time
/// step of the last layer is one frame for the recurrent stack.
public struct ConvFrontend: Sendable, Equatable {
  /// Rate of the audio, Hz.
  public let sampleRate: Int
  /// New samples per chunk.
  public let chunkSamples: Int
  /// Samples of the previous chunk kept in front of each chunk.
  public let contextSamples: Int
  /// STFT hop, samples.
  public let hopLength: Int
  /// Reflect padding at the end of each chunk's input, samples.
  public let padRight: Int
  /// STFT window length (basis row length).
  public let window: Int
  /// Frequency bins `F` (half the basis rows).
  public let bins: Int
  /// `[2F, window]`.
  let basis: [Float]
  /// The conv layers, in order.
  public let convs: [ConvLayer]

  /// Checks that the pieces fit together.
  public init(
    sampleRate: Int, chunkSamples: Int, contextSamples: Int, hopLength: Int, padRight: Int, basis: [Float],
    basisRows: Int, window: Int, convs: [ConvLayer]
  ) throws(FeatureConfigurationError) {
    func fail(_ text: String) -> FeatureConfigurationError {
      FeatureConfigurationError(description: "frontend: \(text)")
    }
    guard sampleRate > 0, chunkSamples > 0, contextSamples >= 0, hopLength > 0, window > 0 else {
      throw fail("chunk, hop and window must be positive")
    }
    guard basisRows % 2 == 0, basis.count == basisRows * window else {
      throw fail("STFT basis has \(basis.count) values, expected [2F, \(window)] with an even row count")
    }
    let inputLength = contextSamples + chunkSamples + padRight
    guard padRight < contextSamples + chunkSamples, inputLength >= window else {
      throw fail("a chunk's input (\(inputLength) samples) is shorter than the STFT window (\(window))")
    }
    var channels = basisRows / 2
    var time = (inputLength - window) / hopLength + 1
    for (index, conv) in convs.enumerated() {
      guard conv.inChannels == channels else {
        throw fail("conv\(index) takes \(conv.inChannels) channels but gets \(channels)")
      }
      time = conv.outputLength(time)
      guard time >= 1 else { throw fail("conv\(index) leaves no time steps") }
      channels = conv.outChannels
    }
    self.sampleRate = sampleRate
    self.chunkSamples = chunkSamples
    self.contextSamples = contextSamples
    self.hopLength = hopLength
    self.padRight = padRight
    self.basis = basis
    self.window = window
    bins = basisRows / 2
    self.convs = convs
  }

  /// STFT frames per chunk.
  var stftFrames: Int { (contextSamples + chunkSamples + padRight - window) / hopLength + 1 }
  /// Floats per output frame.
  public var featureCount: Int { convs.last?.outChannels ?? bins }
  /// Output frames per chunk.
  public var framesPerChunk: Int { convs.reduce(stftFrames) { $1.outputLength($0) } }
}

/// Streams audio through a ``ConvFrontend``: push samples in blocks of any size; every completed
/// chunk emits ``ConvFrontend/framesPerChunk`` frames. ``finish(emit:)`` zero-pads a partial last
/// chunk, as Silero's `get_speech_timestamps` pads it. All buffers are allocated in `init`; pushing
/// does not allocate or lock.
public final class ConvFrontendExtractor: FeatureExtractor {
  /// The frontend.
  public let frontend: ConvFrontend
  /// Floats per frame.
  public var featureCount: Int { frontend.featureCount }
  /// Samples between frames (a chunk's samples over its frames).
  public var hopLength: Int { frontend.chunkSamples / frontend.framesPerChunk }

  /// `[context + chunk + padRight]`: the chunk's input.
  private let input: UnsafeMutablePointer<Float>
  private var filled = 0
  /// Two time-major activation buffers `[T][C]`, large enough for every layer.
  private let activationA: UnsafeMutablePointer<Float>
  private let activationB: UnsafeMutablePointer<Float>
  private let inputLength: Int
  /// Private copies of the basis and of each layer's weights and biases, so a chunk runs on plain
  /// pointers (closures over array buffers can allocate capture boxes in unoptimised builds).
  private let basis: UnsafeMutablePointer<Float>
  private let layerWeights: [UnsafeMutablePointer<Float>]
  private let layerBiases: [UnsafeMutablePointer<Float>]

  /// Allocates every buffer.
  public init(frontend: ConvFrontend) {
    self.frontend = frontend
    inputLength = frontend.contextSamples + frontend.chunkSamples + frontend.padRight
    input = .allocate(capacity: inputLength)
    input.initialize(repeating: 0, count: inputLength)
    var largest = 2 * frontend.bins * frontend.stftFrames
    var time = frontend.stftFrames
    for conv in frontend.convs {
      time = conv.outputLength(time)
      largest = max(largest, conv.outChannels * time)
    }
    activationA = .allocate(capacity: largest)
    activationA.initialize(repeating: 0, count: largest)
    activationB = .allocate(capacity: largest)
    activationB.initialize(repeating: 0, count: largest)
    func copy(_ values: [Float]) -> UnsafeMutablePointer<Float> {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
      pointer.initialize(repeating: 0, count: max(values.count, 1))
      for (index, value) in values.enumerated() { pointer[index] = value }
      return pointer
    }
    basis = copy(frontend.basis)
    layerWeights = frontend.convs.map { copy($0.weights) }
    layerBiases = frontend.convs.map { copy($0.bias) }
  }

  deinit {
    input.deallocate()
    activationA.deallocate()
    activationB.deallocate()
    basis.deallocate()
    for pointer in layerWeights + layerBiases { pointer.deallocate() }
  }

  /// Feeds samples. Does not allocate or lock.
  public func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void) {
    let start = frontend.contextSamples
    var index = 0
    while index < samples.count {
      let taken = min(frontend.chunkSamples - filled, samples.count - index)
      for offset in 0..<taken { input[start + filled + offset] = samples[index + offset] }
      filled += taken
      index += taken
      if filled == frontend.chunkSamples { processChunk(emit: emit) }
    }
  }

  /// Ends the stream: a partial chunk is zero-padded and processed; then resets.
  public func finish(emit: (UnsafeBufferPointer<Float>) -> Void) {
    if filled > 0 {
      for offset in filled..<frontend.chunkSamples { input[frontend.contextSamples + offset] = 0 }
      filled = frontend.chunkSamples
      processChunk(emit: emit)
    }
    reset()
  }

  /// Forgets the stream (the context returns to zeros).
  public func reset() {
    filled = 0
    input.update(repeating: 0, count: inputLength)
  }

  private func processChunk(emit: (UnsafeBufferPointer<Float>) -> Void) {
    let used = frontend.contextSamples + frontend.chunkSamples
    // Reflect padding at the end: x[used + i] = x[used − 2 − i].
    for offset in 0..<frontend.padRight { input[used + offset] = input[used - 2 - offset] }
    // STFT magnitude, time-major [T][F].
    let bins = frontend.bins
    let window = frontend.window
    var time = frontend.stftFrames
    for t in 0..<time {
      let x = input + t * frontend.hopLength
      for f in 0..<bins {
        let real = dot(basis + f * window, x, window)
        let imaginary = dot(basis + (bins + f) * window, x, window)
        activationA[t * bins + f] = (real * real + imaginary * imaginary).squareRoot()
      }
    }
    var current = activationA
    var next = activationB
    var channels = bins
    for layer in 0..<frontend.convs.count {
      let conv = frontend.convs[layer]
      let weights = layerWeights[layer]
      let bias = layerBiases[layer]
      let outTime = conv.outputLength(time)
      for t in 0..<outTime {
        for o in 0..<conv.outChannels {
          var sum = bias[o]
          for k in 0..<conv.kernel {
            let source = t * conv.stride + k - conv.padding
            guard source >= 0, source < time else { continue }
            sum += dot(weights + (o * conv.kernel + k) * channels, current + source * channels, channels)
          }
          next[t * conv.outChannels + o] = conv.relu ? max(sum, 0) : sum
        }
      }
      swap(&current, &next)
      time = outTime
      channels = conv.outChannels
    }
    for t in 0..<time { emit(UnsafeBufferPointer(start: current + t * channels, count: channels)) }
    // The last `context` samples of this chunk's input become the next chunk's context.
    let context = frontend.contextSamples
    if context > 0 { input.update(from: input + frontend.chunkSamples, count: context) }
    filled = 0
  }
}

/// `Σ a[i] · b[i]` over `count` floats, 8 lanes at a time.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
  var accumulator = SIMD8<Float>()
  var index = 0
  while index + 8 <= count {
    accumulator +=
      UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self)
      * UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self)
    index += 8
  }
  var sum = accumulator.sum()
  while index < count {
    sum += a[index] * b[index]
    index += 1
  }
  return sum
}
