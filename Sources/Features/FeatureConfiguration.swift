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

/// Makes extractors of one configuration for many streams, sharing what never changes between them
/// (a learned frontend's packed weights): the multi-stream engine makes one per session.
public final class FeatureExtractorFactory: @unchecked Sendable {
  /// The configuration every extractor follows.
  public let configuration: FeatureConfiguration
  private let packedFrontend: PackedConvFrontend?

  /// Checks the configuration (by making one extractor) and packs what is shared.
  public init(_ configuration: FeatureConfiguration) throws(FeatureConfigurationError) {
    self.configuration = configuration
    _ = try configuration.makeExtractor()
    if case .learned(let frontend) = configuration {
      packedFrontend = PackedConvFrontend(frontend: frontend)
    } else {
      packedFrontend = nil
    }
  }

  /// A new extractor for one stream (allocates its buffers now). With `workspace`
  /// (``makeWorkspace()``), the extractor takes its per-frame working buffers from there and keeps
  /// only its stream's context: every extractor sharing a workspace must run on one thread at a time.
  public func make(sharing workspace: FeatureWorkspace? = nil) throws(FeatureConfigurationError)
    -> any FeatureExtractor
  {
    if let packedFrontend {
      return ConvFrontendExtractor(packed: packedFrontend, workspace: workspace?.frontend)
    }
    if case .logmel(let logMel) = configuration, let shared = workspace?.logMel {
      return try LogMelExtractor(configuration: logMel, workspace: shared)
    }
    return try configuration.makeExtractor()
  }

  /// Working buffers one thread's extractors can share (a learned frontend's or log-mel's; Kaldi
  /// fbank extractors keep their own); a learned frontend's hold `chunks` chunks at once for
  /// ``ConvFrontendExtractor/processDeferred(_:workspace:emit:)``.
  public func makeWorkspace(chunks: Int = 1) -> FeatureWorkspace {
    var logMel: LogMelWorkspace?
    if case .logmel(let configuration) = configuration {
      logMel = try? LogMelWorkspace(configuration: configuration)
    }
    return FeatureWorkspace(
      frontend: packedFrontend.map { ConvFrontendWorkspace(packed: $0, chunks: chunks) }, logMel: logMel)
  }
}

/// Per-frame working buffers shared by the extractors one thread runs (see
/// ``FeatureExtractorFactory/makeWorkspace()``).
public final class FeatureWorkspace: @unchecked Sendable {
  /// A learned frontend's buffers, if the features are one.
  public let frontend: ConvFrontendWorkspace?
  /// Log-mel's buffers, if the features are log-mel.
  public let logMel: LogMelWorkspace?

  init(frontend: ConvFrontendWorkspace?, logMel: LogMelWorkspace?) {
    self.frontend = frontend
    self.logMel = logMel
  }
}

/// A configuration that cannot produce frames, with the parameter and what was expected.
public struct FeatureConfigurationError: Error, Equatable, CustomStringConvertible {
  /// One line.
  public let description: String
}

/// The ranges every feature and frontend parameter must fall in, whether it comes from a flag, a
/// model file's metadata or the API: wide enough for any real model, narrow enough that every
/// buffer fits in memory, no size arithmetic overflows and no resampling ratio is absurd.
public enum FeatureLimits {
  /// Audio rates, Hz.
  public static let sampleRate = 1000...384_000
  /// FFT sizes and STFT windows, samples.
  public static let fftSize = 2...65_536
  /// Hops and chunks, samples.
  public static let hop = 1...65_536
  /// Mel bins, frontend channels.
  public static let bins = 1...4096

  /// Throws unless `value` is finite and in `range`: "`name` `value` is out of range: allowed a to b".
  public static func check(_ name: String, _ value: Double, _ range: ClosedRange<Int>, unit: String = "")
    throws(FeatureConfigurationError)
  {
    try check(name, value, Double(range.lowerBound)...Double(range.upperBound), unit: unit)
  }

  /// Throws unless `value` is finite and in `range`.
  public static func check(_ name: String, _ value: Double, _ range: ClosedRange<Double>, unit: String = "")
    throws(FeatureConfigurationError)
  {
    guard value.isFinite, range.contains(value) else {
      let suffix = unit.isEmpty ? "" : " " + unit
      throw FeatureConfigurationError(
        description:
          "\(name) \(shown(value)) is out of range: allowed \(shown(range.lowerBound)) to \(shown(range.upperBound))\(suffix)"
      )
    }
  }

  /// A sample count from a duration product, 0 when it is not a finite count below 2^31 (so that a
  /// hostile value never traps in a conversion; validation then refuses it).
  public static func samples(_ value: Double) -> Int {
    value.isFinite && value >= 0 && value < 2_147_483_648 ? Int(value) : 0
  }

  static func shown(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
  }
}
