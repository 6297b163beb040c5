/// Which features a stream computes: one of the two extractors with its parameters.
public enum FeatureConfiguration: Sendable, Equatable {
  /// Log-mel (torchaudio MelSpectrogram + log).
  case logmel(LogMelConfiguration)
  /// Kaldi fbank (torchaudio.compliance.kaldi.fbank).
  case fbank(FbankConfiguration)

  /// Floats per frame.
  public var featureCount: Int {
    switch self {
    case .logmel(let configuration): configuration.nMels
    case .fbank(let configuration): configuration.numMelBins
    }
  }

  /// The rate the extractor expects, Hz.
  public var sampleRate: Int {
    switch self {
    case .logmel(let configuration): configuration.sampleRate
    case .fbank(let configuration): Int(configuration.sampleRate)
    }
  }

  /// Samples between frames.
  public var hopLength: Int {
    switch self {
    case .logmel(let configuration): configuration.hopLength
    case .fbank(let configuration): configuration.windowShift
    }
  }

  /// A new extractor (allocates every buffer now).
  public func makeExtractor() throws(FeatureConfigurationError) -> any FeatureExtractor {
    switch self {
    case .logmel(let configuration): try LogMelExtractor(configuration: configuration)
    case .fbank(let configuration): try FbankExtractor(configuration: configuration)
    }
  }
}
