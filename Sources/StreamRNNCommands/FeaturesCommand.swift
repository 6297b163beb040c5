import ArgumentParser
import AudioFile
import Features
import ModelIO
import StreamCore

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
  @Option(
    help:
      "Feature definition: logmel (torchaudio MelSpectrogram, log) or fbank (Kaldi). Default: the model's, else logmel."
  )
  var kind: FeatureKind?

  @Flag(help: "logmel: reflect-pad n_fft/2 at both ends like torch.stft(center=True) (adds n_fft/2 latency).")
  var center = false

  @Flag(help: "Scale samples by 32768 (Kaldi's int16 range) before the features.")
  var int16Scale = false

  @Option(
    help: "Rate the features are computed at, Hz; other input rates are resampled (libsoxr). Default 16000.")
  var sampleRate: Int?

  @Option(help: "Mel bands (n_mels / num_mel_bins). Default 40.")
  var nMels: Int?

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

  /// The configuration these options describe, on top of `base` (a model's `features` metadata):
  /// flags override the base; a `--kind` other than the base's starts from that kind's defaults.
  func configuration(base: FeatureConfiguration? = nil) throws -> FeatureConfiguration {
    let scale: Float? = int16Scale ? 32768 : nil
    var resolved: FeatureConfiguration
    switch (kind, base) {
    case (nil, let base?): resolved = base
    case (_, .learned?):
      throw ValidationError("--kind does not apply: the model computes its own features (a learned frontend)")
    case (.fbank, .fbank(let configuration)?): resolved = .fbank(configuration)
    case (.logmel, .logmel(let configuration)?): resolved = .logmel(configuration)
    case (.fbank, _): resolved = .fbank(FbankConfiguration())
    case (.logmel, _), (nil, nil): resolved = .logmel(LogMelConfiguration())
    }
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
    switch resolved {
    case .learned:
      let given =
        (logmelOnly + fbankOnly + [
          ("--n-mels", nMels != nil), ("--sample-rate", sampleRate != nil),
          ("--int16-scale", int16Scale),
        ]).first(where: \.1)
      if let given {
        throw ValidationError(
          "\(given.0) does not apply: the model computes its own features (a learned frontend)")
      }
    case .logmel(var c):
      if let misplaced = fbankOnly.first(where: \.1) {
        throw ValidationError("\(misplaced.0) does not apply to --kind logmel")
      }
      c.sampleRate = sampleRate ?? c.sampleRate
      c.nMels = nMels ?? c.nMels
      c.nFFT = nFFT ?? c.nFFT
      c.winLength = winLength ?? min(c.winLength, c.nFFT)
      c.hopLength = hopLength ?? c.hopLength
      c.fMin = fMin ?? c.fMin
      c.fMax = fMax ?? c.fMax
      c.power = power ?? c.power
      c.melScale = melScale ?? c.melScale
      c.norm = norm ?? c.norm
      c.center = center || c.center
      c.logOffset = logOffset ?? c.logOffset
      c.inputScale = scale ?? c.inputScale
      resolved = .logmel(c)
    case .fbank(var c):
      if let misplaced = logmelOnly.first(where: \.1) {
        throw ValidationError("\(misplaced.0) does not apply to --kind fbank")
      }
      c.sampleRate = sampleRate.map(Double.init) ?? c.sampleRate
      c.numMelBins = nMels ?? c.numMelBins
      c.frameLengthMs = frameLength ?? c.frameLengthMs
      c.frameShiftMs = frameShift ?? c.frameShiftMs
      c.windowType = windowType ?? c.windowType
      c.preemphasisCoefficient = preemphasisCoefficient ?? c.preemphasisCoefficient
      c.lowFrequency = lowFreq ?? c.lowFrequency
      c.highFrequency = highFreq ?? c.highFrequency
      c.removeDCOffset = keepDcOffset ? false : c.removeDCOffset
      c.roundToPowerOfTwo = noRoundToPowerOfTwo ? false : c.roundToPowerOfTwo
      c.usePower = useMagnitude ? false : c.usePower
      c.useLogFbank = linearFbank ? false : c.useLogFbank
      c.inputScale = scale ?? c.inputScale
      resolved = .fbank(c)
    }
    return resolved
  }

  /// The extractor for ``configuration(base:)``.
  func makeExtractor(base: FeatureConfiguration? = nil) throws -> any FeatureExtractor {
    let resolved = try configuration(base: base)
    do { return try resolved.makeExtractor() } catch {
      throw CommandError(description: "features: \(error.description)")
    }
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
    let configuration = try features.configuration()
    let extractor = try features.makeExtractor()
    let frames = try extractFrames(
      path: input, extractor: extractor, sampleRate: configuration.sampleRate,
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
