import ArgumentParser
import AudioFile
import Features
import ModelIO

extension MelScale: ExpressibleByArgument {}
extension MelNorm: ExpressibleByArgument {}
extension WindowFunction: ExpressibleByArgument {}

/// The two feature definitions.
enum FeatureKind: String, ExpressibleByArgument, CaseIterable {
  /// `log(torchaudio.transforms.MelSpectrogram(...) + offset)`.
  case logmel
  /// `torchaudio.compliance.kaldi.fbank(...)`.
  case fbank
}

/// Options shared by every command that turns audio into feature frames.
struct FeatureOptions: ParsableArguments {
  @Option(help: "Feature definition: logmel (torchaudio MelSpectrogram, log) or fbank (Kaldi).")
  var kind: FeatureKind = .logmel

  @Flag(help: "logmel: reflect-pad n_fft/2 at both ends like torch.stft(center=True) (adds n_fft/2 latency).")
  var center = false

  @Flag(help: "Scale samples by 32768 (Kaldi's int16 range) before the features.")
  var int16Scale = false

  @Option(help: "Rate the features are computed at, Hz; other input rates are resampled (libsoxr).")
  var sampleRate = 16000

  @Option(help: "Mel bands (n_mels / num_mel_bins).")
  var nMels = 40

  @Option(help: "logmel: FFT size (default 512).")
  var nFFT: Int?

  @Option(help: "logmel: Hann window length in samples (default 400).")
  var winLength: Int?

  @Option(help: "logmel: samples between frames (default 160).")
  var hopLength: Int?

  @Option(help: "logmel: lowest mel frequency, Hz (default 0).")
  var fMin: Double?

  @Option(help: "logmel: highest mel frequency, Hz (default sample_rate // 2).")
  var fMax: Double?

  @Option(help: "logmel: spectrum exponent, 2 power or 1 magnitude (default 2).")
  var power: Float?

  @Option(help: "logmel: mel scale (default htk).")
  var melScale: MelScale?

  @Option(help: "logmel: filter normalisation (default none).")
  var norm: MelNorm?

  @Option(help: "logmel: added before the log (default 1e-6).")
  var logOffset: Float?

  @Option(help: "fbank: frame length, ms (default 25).")
  var frameLength: Double?

  @Option(help: "fbank: frame shift, ms (default 10).")
  var frameShift: Double?

  @Option(help: "fbank: window (default povey).")
  var windowType: WindowFunction?

  @Option(help: "fbank: pre-emphasis coefficient (default 0.97).")
  var preemphasisCoefficient: Float?

  @Option(help: "fbank: lowest mel frequency, Hz (default 20).")
  var lowFreq: Double?

  @Option(
    help:
      "fbank: highest mel frequency, Hz; 0 = Nyquist, negative = below Nyquist, written --high-freq=-400 (default 0)."
  )
  var highFreq: Double?

  @Flag(help: "fbank: keep each frame's DC offset (remove_dc_offset=False).")
  var keepDcOffset = false

  @Flag(help: "fbank: FFT over the window itself, not padded to a power of two.")
  var noRoundToPowerOfTwo = false

  @Flag(help: "fbank: magnitude instead of power spectrum (use_power=False).")
  var useMagnitude = false

  @Flag(help: "fbank: linear energies instead of their log (use_log_fbank=False).")
  var linearFbank = false

  func validate() throws {
    let logmelOnly: [(String, Bool)] = [
      ("--center", center), ("--n-fft", nFFT != nil), ("--win-length", winLength != nil),
      ("--hop-length", hopLength != nil), ("--f-min", fMin != nil), ("--f-max", fMax != nil),
      ("--power", power != nil), ("--mel-scale", melScale != nil), ("--norm", norm != nil),
      ("--log-offset", logOffset != nil),
    ]
    let fbankOnly: [(String, Bool)] = [
      ("--frame-length", frameLength != nil), ("--frame-shift", frameShift != nil),
      ("--window-type", windowType != nil), ("--preemphasis-coefficient", preemphasisCoefficient != nil),
      ("--low-freq", lowFreq != nil), ("--high-freq", highFreq != nil), ("--keep-dc-offset", keepDcOffset),
      ("--no-round-to-power-of-two", noRoundToPowerOfTwo), ("--use-magnitude", useMagnitude),
      ("--linear-fbank", linearFbank),
    ]
    let misplaced = (kind == .logmel ? fbankOnly : logmelOnly).filter(\.1).map(\.0)
    if !misplaced.isEmpty {
      throw ValidationError("\(misplaced.joined(separator: ", ")) does not apply to --kind \(kind.rawValue)")
    }
  }

  /// The extractor these options describe.
  func makeExtractor() throws -> any FeatureExtractor {
    let scale: Float = int16Scale ? 32768 : 1
    switch kind {
    case .logmel:
      var configuration = LogMelConfiguration()
      configuration.sampleRate = sampleRate
      configuration.nMels = nMels
      configuration.nFFT = nFFT ?? configuration.nFFT
      configuration.winLength = winLength ?? min(configuration.winLength, configuration.nFFT)
      configuration.hopLength = hopLength ?? configuration.hopLength
      configuration.fMin = fMin ?? configuration.fMin
      configuration.fMax = fMax
      configuration.power = power ?? configuration.power
      configuration.melScale = melScale ?? configuration.melScale
      configuration.norm = norm ?? configuration.norm
      configuration.center = center
      configuration.logOffset = logOffset ?? configuration.logOffset
      configuration.inputScale = scale
      return try wrap { () throws(FeatureConfigurationError) in
        try LogMelExtractor(configuration: configuration)
      }
    case .fbank:
      var configuration = FbankConfiguration()
      configuration.sampleRate = Double(sampleRate)
      configuration.numMelBins = nMels
      configuration.frameLengthMs = frameLength ?? configuration.frameLengthMs
      configuration.frameShiftMs = frameShift ?? configuration.frameShiftMs
      configuration.windowType = windowType ?? configuration.windowType
      configuration.preemphasisCoefficient = preemphasisCoefficient ?? configuration.preemphasisCoefficient
      configuration.lowFrequency = lowFreq ?? configuration.lowFrequency
      configuration.highFrequency = highFreq ?? configuration.highFrequency
      configuration.removeDCOffset = !keepDcOffset
      configuration.roundToPowerOfTwo = !noRoundToPowerOfTwo
      configuration.usePower = !useMagnitude
      configuration.useLogFbank = !linearFbank
      configuration.inputScale = scale
      return try wrap { () throws(FeatureConfigurationError) in
        try FbankExtractor(configuration: configuration)
      }
    }
  }

  private func wrap(_ make: () throws(FeatureConfigurationError) -> any FeatureExtractor) throws
    -> any FeatureExtractor
  {
    do { return try make() } catch { throw CommandError(description: "features: \(error.description)") }
  }
}

/// `streamrnn features`: decodes an audio file, resamples it to `--sample-rate`, and writes its
/// feature frames, streamed through the same extractors the live path uses.
struct FeaturesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "features",
    abstract: "Compute log-mel or Kaldi fbank frames of an audio file, equal to torchaudio's.",
    discussion: """
      Writes float32 [frames, n_mels], time-major, C order. The file is decoded with libsndfile \
      (multi-channel: the mean of the channels, or --channel N counting from 0) and resampled to \
      --sample-rate with libsoxr when its rate differs.
      """)

  @Argument(help: "Audio file (WAV, FLAC, … whatever libsndfile reads).")
  var input: String

  @OptionGroup var features: FeatureOptions

  @Option(help: "Use this channel (from 0) instead of the mean of all channels.")
  var channel: Int?

  @Option(help: "Where to write the frames (.npy).")
  var out: String

  func run() throws {
    let extractor = try features.makeExtractor()
    let frames = try extractFrames(
      path: input, extractor: extractor, sampleRate: features.sampleRate,
      channel: channel.map { .channel($0) } ?? .mean)
    try NpyArray(shape: [frames.count / extractor.featureCount, extractor.featureCount], values: frames)
      .write(to: out)
  }
}

/// Decodes `path` to mono at `sampleRate` and streams it through `extractor`; returns the frames
/// concatenated, `[frames × featureCount]`.
func extractFrames(path: String, extractor: any FeatureExtractor, sampleRate: Int, channel: ChannelSelection)
  throws -> [Float]
{
  let stream = try MonoAudioStream(path: path, outputRate: sampleRate, channel: channel)
  var frames: [Float] = []
  try stream.forEachBlock { block in
    extractor.push(block) { frames.append(contentsOf: $0) }
  }
  extractor.finish { frames.append(contentsOf: $0) }
  return frames
}
