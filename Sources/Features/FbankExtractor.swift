import StreamCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Parameters of ``FbankExtractor``, named after `torchaudio.compliance.kaldi.fbank`'s.
///
/// Defaults are torchaudio's except `num_mel_bins` 40 (torchaudio: 23). `snip_edges` is always
/// true (frames lie wholly inside the signal) and `dither` always 0 (deterministic output).
public struct FbankConfiguration: Sendable, Equatable {
  /// `sample_frequency`, Hz.
  public var sampleRate: Double = 16000
  /// `frame_length`, ms.
  public var frameLengthMs: Double = 25
  /// `frame_shift`, ms.
  public var frameShiftMs: Double = 10
  /// `num_mel_bins`.
  public var numMelBins = 40
  /// `window_type`.
  public var windowType = WindowFunction.povey
  /// `preemphasis_coefficient`.
  public var preemphasisCoefficient: Float = 0.97
  /// `remove_dc_offset`: subtract each frame's mean first.
  public var removeDCOffset = true
  /// `round_to_power_of_two`: zero-pad each frame to the next power of two before the FFT.
  public var roundToPowerOfTwo = true
  /// `low_freq`, Hz.
  public var lowFrequency: Double = 20
  /// `high_freq`, Hz: 0 means Nyquist, a negative value is an offset below Nyquist.
  public var highFrequency: Double = 0
  /// `use_log_fbank`: log of the energies, floored at float32's epsilon.
  public var useLogFbank = true
  /// `use_power`: power spectrum (else magnitude).
  public var usePower = true
  /// Multiplies every input sample: 1 for float audio in [-1, 1), 32768 for Kaldi's int16 scale.
  public var inputScale: Float = 1

  /// The defaults described above.
  public init() {}

  /// `window_size`: `int(sample_frequency × frame_length × 0.001)` samples, as torchaudio.
  public var windowSize: Int { FeatureLimits.samples(sampleRate * frameLengthMs * 0.001) }
  /// `window_shift`: `int(sample_frequency × frame_shift × 0.001)` samples.
  public var windowShift: Int { FeatureLimits.samples(sampleRate * frameShiftMs * 0.001) }
  /// The FFT size: `window_size` rounded up to a power of two, or `window_size`.
  public var paddedWindowSize: Int {
    guard roundToPowerOfTwo else { return windowSize }
    var size = 1
    while size < windowSize { size *= 2 }
    return size
  }
  /// `high_freq` resolved against Nyquist.
  public var resolvedHighFrequency: Double {
    highFrequency <= 0 ? highFrequency + sampleRate / 2 : highFrequency
  }

  /// Checks every parameter as torchaudio does; the error names the parameter.
  public func validate() throws(FeatureConfigurationError) {
    func fail(_ text: String) -> FeatureConfigurationError { FeatureConfigurationError(description: text) }
    try FeatureLimits.check(
      "sample_frequency", sampleRate,
      Double(FeatureLimits.sampleRate.lowerBound)...Double(FeatureLimits.sampleRate.upperBound))
    try FeatureLimits.check("frame_length", frameLengthMs, 0.1...1000, unit: "ms")
    try FeatureLimits.check("frame_shift", frameShiftMs, 0.1...1000, unit: "ms")
    try FeatureLimits.check("num_mel_bins", Double(numMelBins), 4...Double(FeatureLimits.bins.upperBound))
    try FeatureLimits.check("preemphasis_coefficient", Double(preemphasisCoefficient), 0...1)
    try FeatureLimits.check("low_freq", lowFrequency, 0...Double(FeatureLimits.sampleRate.upperBound))
    try FeatureLimits.check(
      "high_freq", highFrequency,
      -Double(FeatureLimits.sampleRate.upperBound)...Double(FeatureLimits.sampleRate.upperBound))
    guard windowSize >= 2 else {
      throw fail("frame_length \(frameLengthMs) ms gives a window of \(windowSize) samples; need ≥ 2")
    }
    guard windowShift > 0 else {
      throw fail("frame_shift \(frameShiftMs) ms gives a shift of \(windowShift) samples; need ≥ 1")
    }
    guard PowerSpectrum.isSupported(size: paddedWindowSize) else {
      throw fail(
        "FFT size \(paddedWindowSize) (window of \(windowSize) samples) has a prime factor above 5; use round_to_power_of_two"
      )
    }
    guard numMelBins > 3 else { throw fail("num_mel_bins must be > 3, got \(numMelBins)") }
    let nyquist = sampleRate / 2
    let high = resolvedHighFrequency
    guard lowFrequency >= 0, lowFrequency < nyquist, high > 0, high <= nyquist, lowFrequency < high else {
      throw fail("need 0 ≤ low_freq (\(lowFrequency)) < high_freq (\(high)) ≤ Nyquist (\(nyquist))")
    }
  }
}

/// Streaming Kaldi filterbank frames equal to `torchaudio.compliance.kaldi.fbank(...)`
/// (`snip_edges=True`, `dither=0`): frame `t` covers samples `t·shift ..< t·shift + window_size`
/// and is emitted as soon as its last sample arrives; `1 + (N − window_size) / shift` frames.
///
/// Per frame: remove the DC offset, pre-emphasise (`x[j] − c·x[j−1]`, `x[−1] = x[0]`), window,
/// zero-pad, `|rfft|²`, Kaldi mel banks (`1127 ln(1 + f/700)`), `log(max(e, ε))`.
/// Does not allocate or lock in ``push(_:emit:)`` or ``finish(emit:)``.
public final class FbankExtractor: FeatureExtractor {
  /// The parameters.
  public let configuration: FbankConfiguration
  /// `num_mel_bins`.
  public var featureCount: Int { configuration.numMelBins }
  /// `window_shift` in samples.
  public var hopLength: Int { configuration.windowShift }

  private let assembler: FrameAssembler
  private let spectrum: PowerSpectrum
  private let filterbank: MelFilterbank
  private let windowSize: Int
  /// `[window_size]`.
  private let window: [Float]
  /// `[padded_window_size]`: the frame being processed; samples past `window_size` stay zero.
  private let work: UnsafeMutablePointer<Float>
  /// `[padded / 2 + 1]`.
  private let power: UnsafeMutablePointer<Float>
  /// `[num_mel_bins]`.
  private let output: UnsafeMutablePointer<Float>

  /// Allocates every buffer for `configuration`.
  public init(configuration: FbankConfiguration) throws(FeatureConfigurationError) {
    try configuration.validate()
    self.configuration = configuration
    windowSize = configuration.windowSize
    let padded = configuration.paddedWindowSize
    assembler = FrameAssembler(frameLength: windowSize, hop: configuration.windowShift)
    spectrum = PowerSpectrum(size: padded, power: configuration.usePower ? 2 : 1)
    filterbank = .kaldi(
      melCount: configuration.numMelBins, paddedWindow: padded, sampleRate: configuration.sampleRate,
      lowFrequency: configuration.lowFrequency, highFrequency: configuration.resolvedHighFrequency)
    window = configuration.windowType.values(length: windowSize)
    work = .allocate(capacity: padded)
    work.initialize(repeating: 0, count: padded)
    power = .allocate(capacity: padded / 2 + 1)
    power.initialize(repeating: 0, count: padded / 2 + 1)
    output = .allocate(capacity: configuration.numMelBins)
    output.initialize(repeating: 0, count: configuration.numMelBins)
  }

  deinit {
    work.deallocate()
    power.deallocate()
    output.deallocate()
  }

  /// Feeds mono samples at `sample_frequency`. Does not allocate or lock.
  public func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void) {
    guard let base = samples.baseAddress, samples.count > 0 else { return }
    assembler.push(base, count: samples.count) { frame, _ in
      computeFrame(frame)
      emit(UnsafeBufferPointer(start: output, count: configuration.numMelBins))
    }
  }

  /// Ends the stream (a partial last frame is dropped, as `snip_edges=True` does) and resets.
  public func finish(emit: (UnsafeBufferPointer<Float>) -> Void) {
    reset()
  }

  /// Forgets the stream so far.
  public func reset() { assembler.reset() }

  private func computeFrame(_ frame: UnsafePointer<Float>) {
    let scale = configuration.inputScale
    for index in 0..<windowSize { work[index] = frame[index] * scale }
    if configuration.removeDCOffset {
      // Double accumulation: as close to torch.mean's pairwise float32 sum as float32 can be.
      var sum: Double = 0
      for index in 0..<windowSize { sum += Double(work[index]) }
      let mean = Float(sum / Double(windowSize))
      for index in 0..<windowSize { work[index] -= mean }
    }
    let coefficient = configuration.preemphasisCoefficient
    if coefficient != 0 {
      // Backwards, so each x[j-1] is still the original when x[j] uses it.
      var index = windowSize - 1
      while index > 0 {
        work[index] -= coefficient * work[index - 1]
        index -= 1
      }
      work[0] -= coefficient * work[0]
    }
    window.withUnsafeBufferPointer { window in
      for index in 0..<windowSize { work[index] *= window[index] }
    }
    spectrum.compute(work, into: power)
    filterbank.apply(power, into: output)
    if configuration.useLogFbank {
      let epsilon = Float.ulpOfOne  // torch.finfo(torch.float32).eps
      for mel in 0..<configuration.numMelBins { output[mel] = logf(max(output[mel], epsilon)) }
    }
  }
}
