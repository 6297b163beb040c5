import Recurrent
import StreamCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Parameters of ``LogMelExtractor``, named after `torchaudio.transforms.MelSpectrogram`'s.
///
/// Defaults are torchaudio's except `n_mels` 40, `n_fft` 512, `win_length` 400 and `hop_length` 160
/// at 16 kHz (25 ms windows every 10 ms, the usual speech front end), and `center` false: a causal
/// stream cannot reflect-pad samples it has not seen yet without adding `n_fft / 2` of latency.
public struct LogMelConfiguration: Sendable, Equatable {
  /// `sample_rate`, Hz.
  public var sampleRate = 16000
  /// `n_fft`: FFT size; `n_fft / 2 + 1` frequency bins.
  public var nFFT = 512
  /// `win_length`: samples of the periodic Hann window, zero-padded to `n_fft` (centered).
  public var winLength = 400
  /// `hop_length`: samples between frames.
  public var hopLength = 160
  /// `n_mels`.
  public var nMels = 40
  /// `f_min`, Hz.
  public var fMin: Double = 0
  /// `f_max`, Hz; nil means `sample_rate // 2`, as torchaudio.
  public var fMax: Double?
  /// `power`: 2 for power, 1 for magnitude.
  public var power: Float = 2
  /// `mel_scale`.
  public var melScale = MelScale.htk
  /// `norm`.
  public var norm = MelNorm.none
  /// `center`: reflect-pad `n_fft / 2` samples at both ends, as `torch.stft(center=True)`.
  public var center = false
  /// Added before the log: frames are `log(mel + logOffset)`.
  public var logOffset: Float = 1e-6
  /// Multiplies every input sample: 1 for float audio in [-1, 1), 32768 for Kaldi's int16 scale.
  public var inputScale: Float = 1

  /// The defaults described above.
  public init() {}

  /// Checks every parameter against its range (``FeatureLimits``); the error names the parameter,
  /// its value and what it must be.
  public func validate() throws(FeatureConfigurationError) {
    func fail(_ text: String) -> FeatureConfigurationError { FeatureConfigurationError(description: text) }
    try FeatureLimits.check("sample_rate", Double(sampleRate), FeatureLimits.sampleRate)
    try FeatureLimits.check("n_fft", Double(nFFT), FeatureLimits.fftSize)
    try FeatureLimits.check("hop_length", Double(hopLength), FeatureLimits.hop)
    try FeatureLimits.check("n_mels", Double(nMels), FeatureLimits.bins)
    try FeatureLimits.check("f_min", fMin, 0...Double(FeatureLimits.sampleRate.upperBound))
    if let fMax { try FeatureLimits.check("f_max", fMax, 0...Double(FeatureLimits.sampleRate.upperBound)) }
    try FeatureLimits.check("power", Double(power), 0.01...16)
    try FeatureLimits.check("log_offset", Double(logOffset), 0...1e6)
    guard nFFT >= 2, PowerSpectrum.isSupported(size: nFFT) else {
      throw fail("n_fft \(nFFT) must be ≥ 2 with prime factors 2, 3 and 5 only (e.g. 256, 400, 512, 1024)")
    }
    guard (1...nFFT).contains(winLength) else {
      throw fail("win_length \(winLength) must be in 1...n_fft (\(nFFT))")
    }
    guard hopLength > 0 else { throw fail("hop_length must be positive, got \(hopLength)") }
    guard nMels > 0 else { throw fail("n_mels must be positive, got \(nMels)") }
    let top = fMax ?? Double(sampleRate / 2)
    guard fMin >= 0, fMin < top, top <= Double(sampleRate) / 2 else {
      throw fail("need 0 ≤ f_min (\(fMin)) < f_max (\(top)) ≤ sample_rate / 2 (\(Double(sampleRate) / 2))")
    }
    guard power > 0, power.isFinite else { throw fail("power must be positive, got \(power)") }
    guard logOffset >= 0, logOffset.isFinite else { throw fail("log offset must be ≥ 0, got \(logOffset)") }
  }
}

/// Streaming log-mel frames equal to `log(torchaudio.transforms.MelSpectrogram(...)(wave) + offset)`,
/// transposed to `[frames, n_mels]`.
///
/// Without `center`, frame `t` covers samples `t·hop ..< t·hop + n_fft` and is emitted as soon as
/// its last sample arrives; `1 + (N − n_fft) / hop` frames in all (none when `N < n_fft`). With
/// `center`, the stream is reflect-padded by `n_fft / 2` at both ends: the first frame waits for
/// `n_fft / 2 + 1` samples, the last `n_fft / 2 / hop` frames come from ``finish(emit:)``, and there
/// are `1 + N / hop` frames (none when `N ≤ n_fft / 2`, where PyTorch raises an error).
///
/// Does not allocate or lock in ``push(_:emit:)`` or ``finish(emit:)``.
public final class LogMelExtractor: FeatureExtractor {
  /// The parameters.
  public let configuration: LogMelConfiguration
  /// `n_mels`.
  public var featureCount: Int { configuration.nMels }
  /// `hop_length`.
  public var hopLength: Int { configuration.hopLength }

  private let assembler: FrameAssembler
  /// The per-frame working buffers and the immutable window and filterbank: this extractor's own, or
  /// one shared by every extractor of this configuration that one thread runs.
  public let workspace: LogMelWorkspace
  private var spectrum: PowerSpectrum { workspace.spectrum }
  private var window: UnsafeMutablePointer<Float> { workspace.window }
  private var windowed: UnsafeMutablePointer<Float> { workspace.windowed }
  private var power: UnsafeMutablePointer<Float> { workspace.power }
  private var output: UnsafeMutablePointer<Float> { workspace.output }
  private var reflected: UnsafeMutablePointer<Float> { workspace.reflected }

  // Centered mode. `pad = n_fft / 2`.
  private let pad: Int
  /// `[pad + 1]`: the first samples of the stream, needed for the reflected prefix.
  private let head: UnsafeMutablePointer<Float>
  private var headCount = 0
  /// `[pad + 1]` ring of the latest samples, needed for the reflected suffix.
  private let tail: UnsafeMutablePointer<Float>
  private var tailNext = 0

  /// Allocates every buffer for `configuration` (the working ones in `workspace` when given, made
  /// by ``LogMelWorkspace/init(configuration:)`` for an equal configuration: then every extractor
  /// sharing it must run on one thread at a time).
  public init(configuration: LogMelConfiguration, workspace: LogMelWorkspace? = nil)
    throws(FeatureConfigurationError)
  {
    try configuration.validate()
    self.configuration = configuration
    if let workspace {
      guard workspace.configuration == configuration else {
        throw FeatureConfigurationError(description: "a log-mel workspace made for another configuration")
      }
      self.workspace = workspace
    } else {
      self.workspace = try LogMelWorkspace(configuration: configuration)
    }
    let nFFT = configuration.nFFT
    assembler = FrameAssembler(frameLength: nFFT, hop: configuration.hopLength)
    pad = nFFT / 2
    head = .allocate(capacity: pad + 1)
    head.initialize(repeating: 0, count: pad + 1)
    tail = .allocate(capacity: pad + 1)
    tail.initialize(repeating: 0, count: pad + 1)
  }

  deinit {
    head.deallocate()
    tail.deallocate()
  }

  /// Feeds mono samples at `sample_rate`. Does not allocate or lock.
  public func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void) {
    guard let base = samples.baseAddress, samples.count > 0 else { return }
    guard configuration.center else {
      feed(base, count: samples.count, emit: emit)
      return
    }
    remember(base, count: samples.count)
    var start = 0
    if headCount <= pad {
      let taken = min(pad + 1 - headCount, samples.count)
      (head + headCount).update(from: base, count: taken)
      headCount += taken
      start = taken
      guard headCount == pad + 1 else { return }
      // Reflect padding: x[pad], x[pad-1], …, x[1], then the signal from x[0].
      for index in 0..<pad { reflected[index] = head[pad - index] }
      feed(reflected, count: pad, emit: emit)
      feed(head, count: pad + 1, emit: emit)
    }
    if start < samples.count { feed(base + start, count: samples.count - start, emit: emit) }
  }

  /// Ends the stream (emitting the frames the reflected end decides, when centered) and resets.
  public func finish(emit: (UnsafeBufferPointer<Float>) -> Void) {
    if hasDeferredFrame { computeDeferredFrame(emit: emit) }
    if configuration.center && headCount == pad + 1 {
      // Reflect padding at the end: x[N-2], x[N-3], …, x[N-1-pad]; the ring holds x[N-1-pad ... N-1].
      let ringSize = pad + 1
      for index in 0..<pad {
        // Sample x[N-2-index] sits (index + 2) places before the next write position.
        reflected[index] = tail[(tailNext - 2 - index + 2 * ringSize) % ringSize]
      }
      feed(reflected, count: pad, emit: emit)
    }
    reset()
  }

  /// Forgets the stream so far.
  public func reset() {
    hasDeferredFrame = false
    assembler.reset()
    headCount = 0
    tailNext = 0
  }

  /// Keeps the last `pad + 1` samples in the ring.
  private func remember(_ samples: UnsafePointer<Float>, count: Int) {
    let ringSize = pad + 1
    let kept = min(count, ringSize)
    for index in (count - kept)..<count {
      tail[tailNext] = samples[index]
      tailNext = tailNext + 1 == ringSize ? 0 : tailNext + 1
    }
  }

  private func feed(_ samples: UnsafePointer<Float>, count: Int, emit: (UnsafeBufferPointer<Float>) -> Void) {
    // A waiting frame sits in the assembler's buffer: it goes before the assembler writes again.
    if hasDeferredFrame { computeDeferredFrame(emit: emit) }
    assembler.push(samples, count: count) { frame, last in
      if last && defersFrames {
        deferred = frame
        hasDeferredFrame = true
      } else {
        computeFrame(frame)
        emit(UnsafeBufferPointer(start: output, count: configuration.nMels))
      }
    }
  }

  /// When true, the frame completed last is left waiting (``hasDeferredFrame``) for
  /// ``processDeferred(_:workspace:emit:)`` to transform it together with other streams' frames (a
  /// multi-stream engine's worker sets it); the next `push` or `finish` computes it first. Frames
  /// are the same bits either way. The frame waits where the frame assembler put it (no copy, no
  /// memory of its own). It needs a workspace whose FFT plan batches (``LogMelWorkspace/batches``),
  /// and stays false otherwise. Turned off while a frame waits, that frame still comes out first at
  /// the next `push` or `finish`. Default false.
  public var defersFrames = false {
    didSet { if !workspace.batches { defersFrames = false } }
  }

  /// A completed frame waits to be computed (see ``defersFrames``).
  public private(set) var hasDeferredFrame = false
  /// The waiting frame (`n_fft` samples), in the assembler's buffer.
  private var deferred: UnsafePointer<Float>?

  private func computeDeferredFrame(emit: (UnsafeBufferPointer<Float>) -> Void) {
    hasDeferredFrame = false
    if let deferred {
      computeFrame(deferred)
      emit(UnsafeBufferPointer(start: output, count: configuration.nMels))
    }
  }

  /// Computes the waiting frames of `extractors` (each ``hasDeferredFrame``, all of
  /// `workspace`'s configuration, at most 16 of them) together: one batched FFT,
  /// then each frame's mel filterbank and log, bit for bit what computing each alone gives. Frames go
  /// to `emit` with the extractor's position in `extractors`. The extractors are unretained (no
  /// reference counting per frame): the caller keeps them alive. Does not allocate or lock; one
  /// thread at a time per workspace.
  public static func processDeferred(
    _ extractors: UnsafeBufferPointer<Unmanaged<LogMelExtractor>>, workspace: LogMelWorkspace,
    emit: (Int, UnsafeBufferPointer<Float>) -> Void
  ) {
    guard let fft = workspace.batchFFT, extractors.count > 0 else { return }
    precondition(extractors.count <= fft.lanes, "more frames than one batched transform")
    let configuration = workspace.configuration
    for index in 0..<extractors.count {
      extractors[index]._withUnsafeGuaranteedRef { extractor in
        precondition(extractor.hasDeferredFrame && extractor.workspace === workspace, "no frame waits there")
        workspace.framePointers[index] = extractor.deferred!
        extractor.hasDeferredFrame = false
      }
    }
    // The spectra interleaved (`[bins][16]`), the mel sums of all 16 lanes in vector arithmetic
    // (each lane's sums the same operations as a lone frame's), then each frame's logs.
    fft.transform(
      workspace.framePointers, count: extractors.count, window: workspace.window,
      outputs: workspace.batchPowerPointer, power: configuration.power == 2, interleaved: true)
    raiseToPower(workspace.batchPower, count: 16 * (configuration.nFFT / 2 + 1), workspace: workspace)
    LaneFFTKernel.melWide(
      workspace.batchPower, workspace.melTable, workspace.melWeights, configuration.nMels, workspace.batchMel)
    let offset = configuration.logOffset
    let output = workspace.output
    for index in 0..<extractors.count {
      for mel in 0..<configuration.nMels { output[mel] = logf(workspace.batchMel[mel * 16 + index] + offset) }
      emit(index, UnsafeBufferPointer(start: output, count: configuration.nMels))
    }
  }

  /// `|X|^power` in place from a ``LaneFFT`` output (`|X|²` when `power` is 2, `|X|` otherwise).
  @inline(__always)
  private static func raiseToPower(
    _ spectrum: UnsafeMutablePointer<Float>, count: Int, workspace: LogMelWorkspace
  ) {
    let power = workspace.configuration.power
    if power != 2 && power != 1 {
      for bin in 0..<count { spectrum[bin] = powf(spectrum[bin], power) }
    }
  }

  /// `log(mel(spectrum) + offset)` into `output`, from `|X|^power`.
  @inline(__always)
  private static func melLog(_ spectrum: UnsafeMutablePointer<Float>, workspace: LogMelWorkspace) {
    let configuration = workspace.configuration
    workspace.filterbank.apply(spectrum, into: workspace.output)
    let offset = configuration.logOffset
    let output = workspace.output
    for mel in 0..<configuration.nMels { output[mel] = logf(output[mel] + offset) }
  }

  /// `log(mel(|FFT(frame · window)|^power) + offset)` into `output`.
  private func computeFrame(_ frame: UnsafePointer<Float>) {
    if let fft = workspace.singleFFT {
      // The same arithmetic as a batch's lane: the frame's bits do not depend on whether it was
      // batched.
      workspace.framePointers[0] = frame
      fft.transform(
        workspace.framePointers, count: 1, window: window, outputs: workspace.singlePower,
        power: configuration.power == 2, interleaved: true)
      Self.raiseToPower(power, count: configuration.nFFT / 2 + 1, workspace: workspace)
      LaneFFTKernel.melNarrow(power, workspace.melTable, workspace.melWeights, configuration.nMels, output)
      let offset = configuration.logOffset
      for mel in 0..<configuration.nMels { output[mel] = logf(output[mel] + offset) }
      return
    }
    let nFFT = configuration.nFFT
    for index in 0..<nFFT { windowed[index] = frame[index] * window[index] }
    spectrum.compute(windowed, into: power)
    Self.melLog(power, workspace: workspace)
  }
}

/// A ``LogMelExtractor``'s per-frame working buffers (the windowed frame, the FFT and its power, the
/// output frame, the reflected padding) and its immutable window and mel filterbank. Nothing in
/// them outlives a call, so one workspace serves any number of extractors of the same configuration
/// that run on one thread (a multi-stream engine's worker gives one to all its sessions). Allocated
/// in `init`.
public final class LogMelWorkspace: @unchecked Sendable {
  /// The configuration it is sized for.
  public let configuration: LogMelConfiguration
  let spectrum: PowerSpectrum
  let filterbank: MelFilterbank
  /// `[n_fft]`: the Hann window, zero-padded to `n_fft`, times `inputScale`.
  let window: UnsafeMutablePointer<Float>
  /// `[n_fft]`: the windowed frame.
  let windowed: UnsafeMutablePointer<Float>
  /// `[n_fft / 2 + 1]`: `|X|^power`.
  let power: UnsafeMutablePointer<Float>
  /// `[n_mels]`: the output frame.
  let output: UnsafeMutablePointer<Float>
  /// `[n_fft / 2]`: reflected samples being fed (centered mode).
  let reflected: UnsafeMutablePointer<Float>
  /// The FFT of one frame and of up to 16 at once (``LaneFFT``; the same bits per frame), when
  /// `n_fft` is even with `n_fft / 2` a product of 2, 3 and 5 (256, 400, 512, …); otherwise nil,
  /// and kissfft (``spectrum``) transforms frames one at a time.
  let singleFFT: LaneFFT?
  let batchFFT: LaneFFT?
  /// Whether frames of several streams can be transformed together
  /// (``LogMelExtractor/processDeferred(_:workspace:emit:)``).
  public var batches: Bool { batchFFT != nil }
  /// `[n_fft / 2 + 1][16]`: a batch's spectra, interleaved (bin `f` of lane `l` at `f · 16 + l`),
  /// 64-byte aligned.
  let batchPower: UnsafeMutablePointer<Float>
  /// `[1]`: ``batchPower`` (the transform's output argument).
  let batchPowerPointer: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  /// `[n_mels][16]`: a batch's mel sums, interleaved as ``batchPower``.
  let batchMel: UnsafeMutablePointer<Float>
  /// `[n_mels][3]`: each mel's first bin, bin count and first weight (``LaneFFTKernel/Mel``), and
  /// the weights, from ``filterbank``.
  let melTable: UnsafeMutablePointer<Int>
  let melWeights: UnsafeMutablePointer<Float>
  /// `[16]`: a transform's frames.
  let framePointers: UnsafeMutablePointer<UnsafePointer<Float>>
  /// `[1]`: a lone frame's spectrum, ``power``.
  let singlePower: UnsafeMutablePointer<UnsafeMutablePointer<Float>>

  /// Buffers for `configuration` (checked).
  public init(configuration: LogMelConfiguration) throws(FeatureConfigurationError) {
    try configuration.validate()
    self.configuration = configuration
    let nFFT = configuration.nFFT
    spectrum = PowerSpectrum(size: nFFT, power: configuration.power)
    filterbank = .torchaudio(
      binCount: nFFT / 2 + 1, fMin: configuration.fMin,
      fMax: configuration.fMax ?? Double(configuration.sampleRate / 2),
      melCount: configuration.nMels, sampleRate: configuration.sampleRate, norm: configuration.norm,
      scale: configuration.melScale)
    window = .allocate(capacity: nFFT)
    window.initialize(repeating: 0, count: nFFT)
    // torch.stft centers a shorter window inside n_fft.
    let offset = (nFFT - configuration.winLength) / 2
    for (index, value) in periodicHannWindow(length: configuration.winLength).enumerated() {
      window[offset + index] = value * configuration.inputScale
    }
    windowed = .allocate(capacity: nFFT)
    windowed.initialize(repeating: 0, count: nFFT)
    power = .allocate(capacity: nFFT / 2 + 1)
    power.initialize(repeating: 0, count: nFFT / 2 + 1)
    output = .allocate(capacity: configuration.nMels)
    output.initialize(repeating: 0, count: configuration.nMels)
    reflected = .allocate(capacity: max(nFFT / 2, 1))
    reflected.initialize(repeating: 0, count: max(nFFT / 2, 1))
    singleFFT = LaneFFT(size: nFFT, lanes: 1)
    batchFFT = singleFFT == nil ? nil : LaneFFT(size: nFFT, lanes: 16)
    let lanes = 16
    let bins = nFFT / 2 + 1
    batchPower = UnsafeMutableRawPointer.allocate(byteCount: lanes * bins * 4, alignment: 64)
      .initializeMemory(as: Float.self, repeating: 0, count: lanes * bins)
    batchPowerPointer = .allocate(capacity: 1)
    batchPowerPointer.initialize(to: batchPower)
    let mels = configuration.nMels
    batchMel = UnsafeMutableRawPointer.allocate(byteCount: lanes * mels * 4, alignment: 64)
      .initializeMemory(as: Float.self, repeating: 0, count: lanes * mels)
    melTable = .allocate(capacity: 3 * mels)
    for mel in 0..<mels {
      (melTable + 3 * mel).initialize(to: filterbank.firstBin[mel])
      (melTable + 3 * mel + 1).initialize(to: filterbank.binSpan[mel])
      (melTable + 3 * mel + 2).initialize(to: filterbank.weightStart[mel])
    }
    melWeights = .allocate(capacity: max(1, filterbank.weights.count))
    melWeights.initialize(repeating: 0, count: max(1, filterbank.weights.count))
    melWeights.update(from: filterbank.weights, count: filterbank.weights.count)
    framePointers = .allocate(capacity: lanes)
    framePointers.initialize(repeating: UnsafePointer(windowed), count: lanes)
    singlePower = .allocate(capacity: 1)
    singlePower.initialize(to: power)
  }

  deinit {
    for buffer in [window, windowed, power, output, reflected, batchPower, batchMel, melWeights] {
      buffer.deallocate()
    }
    melTable.deallocate()
    batchPowerPointer.deallocate()
    framePointers.deallocate()
    singlePower.deallocate()
  }
}
