import StreamCore

/// Which features a stream computes: one of the two extractors with its parameters.
public enum FeatureConfiguration: Sendable, Equatable {
  /// Log-mel (torchaudio MelSpectrogram + log).
  case logmel(LogMelConfiguration)
  /// Kaldi fbank (torchaudio.compliance.kaldi.fbank).
  case fbank(FbankConfiguration)
  /// A learned frontend carried in the model file (Silero VAD's STFT + convolutions).
  case learned(ConvFrontend)

  /// Floats per frame.
  public var featureCount: Int {
    switch self {
    case .logmel(let configuration): configuration.nMels
    case .fbank(let configuration): configuration.numMelBins
    case .learned(let frontend): frontend.featureCount
    }
  }

  /// The rate the extractor expects, Hz.
  public var sampleRate: Int {
    switch self {
    case .logmel(let configuration): configuration.sampleRate
    case .fbank(let configuration): Int(configuration.sampleRate)
    case .learned(let frontend): frontend.sampleRate
    }
  }

  /// Samples between frames.
  public var hopLength: Int {
    switch self {
    case .logmel(let configuration): configuration.hopLength
    case .fbank(let configuration): configuration.windowShift
    case .learned(let frontend): frontend.chunkSamples / frontend.framesPerChunk
    }
  }

  /// A new extractor (allocates every buffer now).
  public func makeExtractor() throws(FeatureConfigurationError) -> any FeatureExtractor {
    switch self {
    case .logmel(let configuration): try LogMelExtractor(configuration: configuration)
    case .fbank(let configuration): try FbankExtractor(configuration: configuration)
    case .learned(let frontend): ConvFrontendExtractor(frontend: frontend)
    }
  }
}

/// A configuration that cannot produce frames, with the parameter and what was expected.
public struct FeatureConfigurationError: Error, Equatable, CustomStringConvertible {
  /// One line.
  public let description: String
}
