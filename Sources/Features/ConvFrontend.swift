import Recurrent
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

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
    precondition(
      outChannels > 0 && inChannels > 0 && kernel > 0 && outChannels <= 4096 && inChannels <= 4096
        && kernel <= 4096 && weight.count == outChannels * inChannels * kernel && bias.count == outChannels,
      "conv weights [\(outChannels), \(inChannels), \(kernel)] with \(weight.count) values")
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
    try FeatureLimits.check("frontend sample_rate", Double(sampleRate), FeatureLimits.sampleRate)
    try FeatureLimits.check("frontend chunk_samples", Double(chunkSamples), FeatureLimits.hop)
    try FeatureLimits.check(
      "frontend context_samples", Double(contextSamples), 0...FeatureLimits.hop.upperBound)
    try FeatureLimits.check("frontend window", Double(window), FeatureLimits.fftSize)
    try FeatureLimits.check("frontend hop_length", Double(hopLength), 1...window)
    try FeatureLimits.check("frontend pad_right", Double(padRight), 0...(contextSamples + chunkSamples - 1))
    try FeatureLimits.check("frontend STFT rows", Double(basisRows), 2...(2 * FeatureLimits.bins.upperBound))
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
      try FeatureLimits.check("conv\(index) stride", Double(conv.stride), 1...64)
      try FeatureLimits.check("conv\(index) kernel", Double(conv.kernel), 1...4096)
      try FeatureLimits.check("conv\(index) padding", Double(conv.padding), 0...conv.kernel)
      try FeatureLimits.check("conv\(index) channels", Double(conv.outChannels), FeatureLimits.bins)
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
/// chunk, as Silero's `get_speech_timestamps` pads it.
///
/// The STFT (basis × each window) and every convolution (weights × the contiguous time-major window
/// of `kernel` input frames) run as packed matrix × vector products on the recurrent step's SIMD
/// kernels; the convolutions' zero padding lives in each layer's input buffer. All buffers are
/// allocated in `init`; pushing does not allocate or lock.
public final class ConvFrontendExtractor: FeatureExtractor {
  /// The frontend.
  public let frontend: ConvFrontend
  /// Floats per frame.
  public var featureCount: Int { frontend.featureCount }
  /// Samples between frames (a chunk's samples over its frames). Stored: the engine reads it on
  /// its workers' path, and `framesPerChunk` is computed (a debug build allocates computing it).
  public let hopLength: Int

  /// The packed weights and the fixed plan, shared by every extractor of this frontend.
  public let packed: PackedConvFrontend
  /// `[context + chunk + padRight]`: the chunk's input.
  private let input: UnsafeMutablePointer<Float>
  private var filled = 0
  /// ``resetContext()`` came inside a chunk: the chunk after this one starts from zeros.
  private var zeroContextAfterChunk = false
  private var inputLength: Int { packed.inputLength }
  /// The chunk's working buffers (nothing in them outlives a chunk): this extractor's own, or one
  /// shared by every extractor that one thread runs.
  public let workspace: ConvFrontendWorkspace

  /// Packs the weights (``PackedConvFrontend``) and allocates this stream's buffers.
  public convenience init(frontend: ConvFrontend) {
    self.init(packed: PackedConvFrontend(frontend: frontend))
  }

  /// An extractor sharing `packed`'s weights, and `workspace`'s working buffers when given (then
  /// every extractor using that workspace must run on one thread at a time: a multi-stream
  /// engine's worker gives one to all its sessions). Allocates this stream's chunk input (and a
  /// workspace of its own without one).
  public init(packed: PackedConvFrontend, workspace: ConvFrontendWorkspace? = nil) {
    self.packed = packed
    let frontend = packed.frontend
    self.frontend = frontend
    hopLength = frontend.chunkSamples / frontend.framesPerChunk
    precondition(workspace.map { $0.packed === packed } ?? true, "a workspace of another frontend")
    self.workspace = workspace ?? ConvFrontendWorkspace(packed: packed)
    input = .allocate(capacity: packed.inputLength)
    input.initialize(repeating: 0, count: packed.inputLength)
  }

  deinit { input.deallocate() }

  /// When true, a chunk completed by the last samples of a ``push(_:emit:)`` is left waiting
  /// (``hasDeferredChunk``) for ``processDeferred(_:workspace:emit:)`` to compute it together with
  /// other streams' chunks (a multi-stream engine's worker sets it); otherwise the next `push` or
  /// `finish` computes it first. Default false.
  public var defersChunks = false

  /// A completed chunk waits to be computed (see ``defersChunks``).
  public var hasDeferredChunk: Bool { filled == frontend.chunkSamples }

  /// Feeds samples. Does not allocate or lock.
  public func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void) {
    // A chunk left waiting goes first.
    if filled == frontend.chunkSamples { processChunk(emit: emit) }
    let start = frontend.contextSamples
    var index = 0
    while index < samples.count {
      let taken = min(frontend.chunkSamples - filled, samples.count - index)
      for offset in 0..<taken { input[start + filled + offset] = samples[index + offset] }
      filled += taken
      index += taken
      if filled == frontend.chunkSamples && !(defersChunks && index == samples.count) {
        processChunk(emit: emit)
      }
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
    zeroContextAfterChunk = false
    input.update(repeating: 0, count: inputLength)
  }

  /// Zeros the context the next chunk starts from (the last `context_samples` of the previous
  /// one), as at the start of a stream; samples of a chunk being filled stay. At a chunk boundary
  /// (nothing filled) the context of the chunk about to fill is zeroed now; inside a chunk, that of
  /// the chunk after it. Does not allocate or lock.
  public func resetContext() {
    if filled == 0 {
      input.update(repeating: 0, count: frontend.contextSamples)
    } else {
      zeroContextAfterChunk = true
    }
  }

  private func processChunk(emit: (UnsafeBufferPointer<Float>) -> Void) {
    var me = Unmanaged.passUnretained(self)
    withUnsafeMutablePointer(to: &me) { pointer in
      Self.process(UnsafeBufferPointer(start: pointer, count: 1), workspace: workspace) { _, frame in
        emit(frame)
      }
    }
  }

  /// Computes the waiting chunks of `extractors` (each ``hasDeferredChunk``, all of one packed
  /// frontend, at most `workspace.chunks` of them) together: each layer's weights are read once
  /// for all of them, and every frame is bit for bit what computing each chunk alone gives. Frames
  /// go to `emit` with the extractor's position in `extractors`, in order per extractor. The
  /// extractors are unretained (no reference counting per chunk): the caller keeps them alive. Does
  /// not allocate or lock; one thread at a time per workspace.
  public static func processDeferred(
    _ extractors: UnsafeBufferPointer<Unmanaged<ConvFrontendExtractor>>, workspace: ConvFrontendWorkspace,
    emit: (Int, UnsafeBufferPointer<Float>) -> Void
  ) {
    precondition(extractors.count <= workspace.chunks, "more chunks than the workspace holds")
    process(extractors, workspace: workspace, emit: emit)
  }

  /// The chunks of `extractors` (all full) through the STFT and the layers, all chunks' time steps
  /// in one batched product per layer.
  private static func process(
    _ extractors: UnsafeBufferPointer<Unmanaged<ConvFrontendExtractor>>, workspace: ConvFrontendWorkspace,
    emit: (Int, UnsafeBufferPointer<Float>) -> Void
  ) {
    let count = extractors.count
    guard count > 0 else { return }
    let packed = workspace.packed
    let frontend = packed.frontend
    let stftFrames = packed.stftFrames
    let xs = workspace.xs
    let ys = workspace.ys
    let bufferCount = workspace.bufferCount
    let used = frontend.contextSamples + frontend.chunkSamples
    let bins = frontend.bins
    let hop = frontend.hopLength
    // Reflect padding at the end: x[used + i] = x[used − 2 − i]; the STFT windows of every chunk.
    for chunk in 0..<count {
      let input = extractors[chunk]._withUnsafeGuaranteedRef { $0.input }
      for offset in 0..<frontend.padRight { input[used + offset] = input[used - 2 - offset] }
      for t in 0..<stftFrames { xs[chunk * stftFrames + t] = UnsafePointer(input + t * hop) }
    }
    if let fft = workspace.fft, let fftWindow = packed.fftWindow {
      // The basis is a windowed DFT: real FFTs of 16 windows at a time, their magnitudes straight
      // into the first layer's input rows, after its leading zero frames.
      for chunk in 0..<count {
        let first = workspace.buffers[chunk * bufferCount]
        for t in 0..<stftFrames { ys[chunk * stftFrames + t] = first + (packed.firstPadding + t) * bins }
      }
      var done = 0
      let total = count * stftFrames
      while done < total {
        let group = min(fft.lanes, total - done)
        fft.transform(xs + done, count: group, window: fftWindow, outputs: ys + done)
        done += group
      }
    } else {
      stftByProduct(count: count, workspace: workspace)
    }
    var channels = bins
    var time = stftFrames
    for index in 0..<packed.layerCount {
      let entry = packed.plan + 6 * index
      let stride = entry[0]
      let inChannels = entry[1]
      let outChannels = entry[2]
      let relu = entry[3] == 1
      let nextPadding = entry[4]
      time = entry[5]
      let matrix = packed.layers[index]
      if matrix.paddedRows == outChannels {
        // Whole vectors of outputs: every time step's product writes its row in place, all in one
        // batched product over the windows of `kernel` frames (the padding is in the buffer).
        for chunk in 0..<count {
          let current = workspace.buffers[chunk * bufferCount + index]
          let next = workspace.buffers[chunk * bufferCount + index + 1]
          for t in 0..<time {
            xs[chunk * time + t] = UnsafePointer(current + t * stride * inChannels)
            ys[chunk * time + t] = next + (nextPadding + t) * outChannels
          }
        }
        matrix.multiplyBatch(xs, into: ys, count: count * time)
        if relu {
          for step in 0..<count * time {
            let row = ys[step]
            for o in 0..<outChannels { row[o] = row[o] > 0 ? row[o] : 0 }
          }
        }
      } else {
        let scratch = workspace.scratch
        for chunk in 0..<count {
          let current = workspace.buffers[chunk * bufferCount + index]
          let next = workspace.buffers[chunk * bufferCount + index + 1]
          for t in 0..<time {
            matrix.multiply(current + t * stride * inChannels, into: scratch)
            let row = next + (nextPadding + t) * outChannels
            if relu {
              for o in 0..<outChannels { row[o] = scratch[o] > 0 ? scratch[o] : 0 }
            } else {
              row.update(from: scratch, count: outChannels)
            }
          }
        }
      }
      channels = outChannels
    }
    for chunk in 0..<count {
      let output = workspace.buffers[chunk * bufferCount + bufferCount - 1]
      for t in 0..<time { emit(chunk, UnsafeBufferPointer(start: output + t * channels, count: channels)) }
      extractors[chunk]._withUnsafeGuaranteedRef { $0.chunkDone() }
    }
  }

  /// The STFT as one batched product of the basis with every window (``ConvFrontendWorkspace/xs``
  /// already point at them), its magnitude into the first layer's input rows after their leading
  /// zero frames.
  private static func stftByProduct(count: Int, workspace: ConvFrontendWorkspace) {
    let packed = workspace.packed
    let stftFrames = packed.stftFrames
    let rows = packed.stft.paddedRows
    let bins = packed.frontend.bins
    let spectra = workspace.spectra
    let bufferCount = workspace.bufferCount
    for step in 0..<count * stftFrames { workspace.ys[step] = spectra + step * rows }
    // Every product over the chunks' time steps is one batched product (the weights read once for
    // all; each result bit for bit the one-step product's).
    packed.stft.multiplyBatch(workspace.xs, into: workspace.ys, count: count * stftFrames)
    for chunk in 0..<count {
      let first = workspace.buffers[chunk * bufferCount]
      for t in 0..<stftFrames {
        let spectrum = spectra + (chunk * stftFrames + t) * rows
        let row = first + (packed.firstPadding + t) * bins
        for f in 0..<bins {
          let real = spectrum[f]
          let imaginary = spectrum[bins + f]
          row[f] = (real * real + imaginary * imaginary).squareRoot()
        }
      }
    }
  }

  /// After a chunk: the last `context` samples of its input become the next chunk's context.
  private func chunkDone() {
    let context = frontend.contextSamples
    if zeroContextAfterChunk {
      input.update(repeating: 0, count: context)
      zeroContextAfterChunk = false
    } else if context > 0 {
      input.update(from: input + frontend.chunkSamples, count: context)
    }
    filled = 0
  }
}

/// The working buffers of a ``ConvFrontendExtractor``'s chunk: each layer's input (zero padding
/// around the frames), one product's scratch, the STFT frames and the batched products' pointers.
/// Nothing in them carries from one chunk to the next (the padding stays zero, every frame row is
/// rewritten), so one workspace serves any number of extractors of the same frontend that run on
/// one thread: a multi-stream engine's worker gives one to all its sessions, and each session keeps
/// only its chunk input. Allocated in `init`.
public final class ConvFrontendWorkspace: @unchecked Sendable {
  /// The frontend it is sized for.
  public let packed: PackedConvFrontend
  /// Per chunk `c`, entry `c × bufferCount + l`: the input of layer `l` (the STFT magnitude for
  /// l = 0), time-major `[frames][channels]` with the layer's zero padding before and after; entry
  /// `c × bufferCount + bufferCount − 1` is the frontend's output.
  let buffers: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  let bufferCount: Int
  /// `[max rows]`: one packed product's result.
  let scratch: UnsafeMutablePointer<Float>
  /// `[chunks, stftFrames, stft.paddedRows]`: the chunks' STFT frames, computed in one batched
  /// product.
  let spectra: UnsafeMutablePointer<Float>
  /// The real FFT of the STFT windows, when the frontend's basis is a windowed DFT
  /// (``PackedConvFrontend/fftWindow``); its working buffers are this workspace's.
  let fft: LaneFFT?
  /// A batched product's inputs and outputs, one per time step.
  let xs: UnsafeMutablePointer<UnsafePointer<Float>>
  let ys: UnsafeMutablePointer<UnsafeMutablePointer<Float>>

  /// Chunks it holds at once (``ConvFrontendExtractor/processDeferred(_:workspace:emit:)``).
  public let chunks: Int

  /// Buffers for `chunks` (at least 1) of `packed`'s chunks at once.
  public init(packed: PackedConvFrontend, chunks: Int = 1) {
    self.packed = packed
    let chunks = max(chunks, 1)
    self.chunks = chunks
    let frontend = packed.frontend
    let times = packed.times
    bufferCount = frontend.convs.count + 1
    buffers = .allocate(capacity: bufferCount * chunks)
    for chunk in 0..<chunks {
      for (index, conv) in frontend.convs.enumerated() {
        // Leading padding, the frames, and enough trailing zeros for the last window.
        let trailing = max(
          0, (times[index + 1] - 1) * conv.stride + conv.kernel - (conv.padding + times[index]))
        let count = (conv.padding + times[index] + trailing) * conv.inChannels
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        buffer.initialize(repeating: 0, count: count)
        (buffers + chunk * bufferCount + index).initialize(to: buffer)
      }
      let outputCount = times.last! * frontend.featureCount
      let output = UnsafeMutablePointer<Float>.allocate(capacity: outputCount)
      output.initialize(repeating: 0, count: outputCount)
      (buffers + chunk * bufferCount + frontend.convs.count).initialize(to: output)
    }
    let scratchCount = max(packed.stft.paddedRows, packed.layers.map(\.paddedRows).max() ?? 0)
    scratch = .allocate(capacity: scratchCount)
    scratch.initialize(repeating: 0, count: scratchCount)
    let spectraCount = chunks * packed.stftFrames * packed.stft.paddedRows
    spectra = .allocate(capacity: spectraCount)
    spectra.initialize(repeating: 0, count: spectraCount)
    fft = packed.fftWindow == nil ? nil : LaneFFT(size: frontend.window, lanes: 16)
    let steps = chunks * max(times.max() ?? 1, 1)
    xs = .allocate(capacity: steps)
    xs.initialize(repeating: UnsafePointer(scratch), count: steps)
    ys = .allocate(capacity: steps)
    ys.initialize(repeating: scratch, count: steps)
  }

  deinit {
    for index in 0..<bufferCount * chunks { buffers[index].deallocate() }
    buffers.deallocate()
    scratch.deallocate()
    spectra.deallocate()
    xs.deallocate()
    ys.deallocate()
  }
}

/// A ``ConvFrontend``'s weights packed for the SIMD products (the STFT basis, each convolution) and
/// its fixed per-chunk plan: immutable, made once, shared by every ``ConvFrontendExtractor`` (every
/// session of a multi-stream engine) through ``ConvFrontendExtractor/init(packed:)``.
public final class PackedConvFrontend: @unchecked Sendable {
  /// The frontend.
  public let frontend: ConvFrontend
  /// `[2F, window]`.
  let stft: PackedMatrix
  /// One per conv layer: `[out, kernel · in]` over a time-major window.
  let layers: [PackedMatrix]
  /// Frames in each layer's input, then the output's.
  let times: [Int]
  /// Per layer, six Ints: stride, in channels, out channels, ReLU (0/1), padding of the next
  /// layer's input, output time steps. The chunk loop reads only pointers and Ints.
  let plan: UnsafeMutablePointer<Int>
  let layerCount: Int
  let stftFrames: Int
  let firstPadding: Int
  /// `context + chunk + padRight` samples.
  let inputLength: Int
  /// `[window]`: when the STFT basis is a windowed DFT — rows `f < F` equal `w[n] cos(2π f n / N)`
  /// and rows `F + f` equal `±w[n] sin(2π f n / N)` for `N` = the window length and `F = N/2 + 1`,
  /// within 1e-6 of the basis's largest value, as Silero VAD's is (to 7.7e-8) — its window `w`,
  /// and the STFT runs as real FFTs (``LaneFFT``): about 40 % of Silero's multiply-adds per chunk
  /// go, and the magnitudes agree with the basis product to about 1e-6 relative. Otherwise nil,
  /// and the basis product it is.
  let fftWindow: UnsafeMutablePointer<Float>?

  /// Whether the STFT runs as real FFTs (the basis is a windowed DFT; see ``fftWindow``) rather
  /// than as the basis product.
  public var stftUsesFFT: Bool { fftWindow != nil }

  /// Packs the weights.
  public init(frontend: ConvFrontend) {
    self.frontend = frontend
    inputLength = frontend.contextSamples + frontend.chunkSamples + frontend.padRight
    let basis = frontend.basis
    let window = frontend.window
    stft = PackedMatrix(rows: 2 * frontend.bins, columns: window) { row, column in
      basis[row * window + column]
    }
    layers = frontend.convs.map { conv in
      let weights = conv.weights
      let bias = conv.bias
      let width = conv.kernel * conv.inChannels
      return PackedMatrix(
        rows: conv.outChannels, columns: width, weight: { row, column in weights[row * width + column] },
        bias: { bias[$0] })
    }
    var times = [frontend.stftFrames]
    for conv in frontend.convs { times.append(conv.outputLength(times.last!)) }
    self.times = times
    layerCount = frontend.convs.count
    stftFrames = times[0]
    firstPadding = frontend.convs.first?.padding ?? 0
    if LaneFFT.plans(size: frontend.window),
      let window = Self.dftWindow(basis: basis, bins: frontend.bins, length: window)
    {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: window.count)
      pointer.initialize(from: window, count: window.count)
      fftWindow = pointer
    } else {
      fftWindow = nil
    }
    plan = .allocate(capacity: max(1, 6 * layerCount))
    plan.initialize(repeating: 0, count: max(1, 6 * layerCount))
    for (index, conv) in frontend.convs.enumerated() {
      let nextPadding = index + 1 < frontend.convs.count ? frontend.convs[index + 1].padding : 0
      let entry = [
        conv.stride, conv.inChannels, conv.outChannels, conv.relu ? 1 : 0, nextPadding, times[index + 1],
      ]
      for (offset, value) in entry.enumerated() { plan[6 * index + offset] = value }
    }
  }

  deinit {
    plan.deallocate()
    fftWindow?.deallocate()
  }

  /// The window `w` of a basis `[2F, N]` that is a windowed DFT (see ``fftWindow``), or nil.
  static func dftWindow(basis: [Float], bins: Int, length: Int) -> [Float]? {
    guard length >= 4, length % 2 == 0, bins == length / 2 + 1, basis.count == 2 * bins * length else {
      return nil
    }
    let window = Array(basis[0..<length])
    let largest = Double(basis.map { abs($0) }.max() ?? 0)
    guard largest > 0 else { return nil }
    let tolerance = 1e-6 * largest
    // The sine rows' sign, from bin 1's row (a pure sine of one period).
    var correlation = 0.0
    for n in 0..<length {
      let angle = 2 * Double.pi * Double(n) / Double(length)
      correlation += Double(basis[(bins + 1) * length + n]) * Double(window[n]) * sin(angle)
    }
    let sign: Double = correlation < 0 ? -1 : 1
    for f in 0..<bins {
      for n in 0..<length {
        let angle = 2 * Double.pi * Double((f * n) % length) / Double(length)
        let w = Double(window[n])
        guard abs(Double(basis[f * length + n]) - w * cos(angle)) <= tolerance,
          abs(Double(basis[(bins + f) * length + n]) - sign * w * sin(angle)) <= tolerance
        else { return nil }
      }
    }
    return window
  }
}
