import ArgumentParser
import AudioFile
import BundledModels
import Features
import ModelIO
import Pipeline
import Recurrent

#if canImport(Glibc)
  import Glibc
#endif

extension SinkFormat: ExpressibleByArgument {}
extension ReplayPace: ExpressibleByArgument {}

/// The model of a stream.
struct ModelOptions: ParsableArguments {
  @Option(
    help:
      "Model file (safetensors). Its 'features' or 'frontend' metadata sets the features. Default: the bundled Silero VAD."
  )
  var model: String?

  @Option(help: "Cell kind, overriding the model file's 'kind' metadata.")
  var modelKind: RecurrentKind?

  @Option(help: weightsHelp)
  var weights: WeightStorage = .float32

  /// The model and its feature configuration after the command line's overrides.
  func load(features: FeatureOptions) throws -> (RecurrentModel, FeatureConfiguration) {
    let model = self.model ?? bundledModelName
    let loaded =
      try self.model.map {
        try ModelLoader.loadWithFeatures(path: $0, kind: modelKind, weightStorage: weights)
      }
      ?? loadBundledModel(kind: modelKind, weightStorage: weights)
    let configuration = try features.configuration(base: loaded.features)
    if loaded.model.isBidirectional {
      throw CommandError(description: "\(model): bidirectional models need the future and cannot stream")
    }
    return (loaded.model, configuration)
  }
}

/// The bundled Silero VAD model's name in messages.
let bundledModelName = "bundled Silero VAD"

/// Loads the bundled Silero VAD model, embedded in the binary (see Sources/BundledModels).
func loadBundledModel(kind: RecurrentKind? = nil, weightStorage: WeightStorage = .float32)
  throws(ModelFileError)
  -> (
    model: RecurrentModel, features: FeatureConfiguration?
  )
{
  let bytes = Array(
    UnsafeBufferPointer(start: streamrnn_silero_vad_16k_bytes(), count: streamrnn_silero_vad_16k_count()))
  return try ModelLoader.loadWithFeatures(
    file: SafeTensorsFile(bytes: bytes, path: bundledModelName), path: bundledModelName, kind: kind,
    weightStorage: weightStorage)
}

/// Speech segments and the state reset policy.
struct SegmentOptions: ParsableArguments {
  @Flag(
    help:
      "Emit speech segments as JSON Lines: a start event as soon as speech starts, a segment when it ends.")
  var segments = false

  @Option(help: "Speech threshold (get_speech_timestamps' threshold).")
  var threshold: Float = 0.5

  @Option(help: "Exit threshold (default: threshold - 0.15).")
  var negThreshold: Float?

  @Option(help: "Shorter segments are discarded, ms.")
  var minSpeechDurationMs: Double = 250

  @Option(help: "Silence that ends a segment, ms.")
  var minSilenceDurationMs: Double = 100

  @Option(help: "Padding added at both ends of each segment, ms.")
  var speechPadMs: Double = 30

  @Option(help: "Split segments longer than this, s (default: never).")
  var maxSpeechDurationS: Double?

  @Option(help: "Reset the model state after this many seconds without speech (default: never).")
  var resetAfterSilence: Double?

  func apply(to options: inout StreamOptions) throws {
    guard (0...1).contains(threshold), minSpeechDurationMs >= 0, minSilenceDurationMs >= 0, speechPadMs >= 0
    else {
      throw ValidationError("segment parameters must be non-negative and the threshold in 0...1")
    }
    if let resetAfterSilence, resetAfterSilence <= 0 {
      throw ValidationError("--reset-after-silence must be positive")
    }
    if segments {
      var parameters = SegmentParameters()
      parameters.threshold = threshold
      parameters.negativeThreshold = negThreshold
      parameters.minSpeechMs = minSpeechDurationMs
      parameters.minSilenceMs = minSilenceDurationMs
      parameters.speechPadMs = speechPadMs
      parameters.maxSpeechSeconds = maxSpeechDurationS ?? .infinity
      options.segments = parameters
    }
    options.resetAfterSilence = resetAfterSilence
  }
}

/// Where per-frame records and statistics go.
struct StreamOutputOptions: ParsableArguments {
  @Option(
    help:
      "Record format: jsonl (default, one JSON object per frame), csv, or npy (outputs only; needs --out).")
  var format: SinkFormat = .jsonl

  @Option(help: "Write records to this file instead of standard output.")
  var out: String?

  @Option(help: "Also write the statistics as JSON to this file.")
  var statsJson: String?

  @Option(help: "Write one record in N.")
  var every = 1

  @Flag(help: "Statistics only: write no per-frame records.")
  var quiet = false

  @Option(help: "Frames the ring between capture and the model holds (a power of two).")
  var ringCapacity = 256

  func streamOptions(duration: Double?) -> StreamOptions {
    var options = StreamOptions()
    options.ringCapacity = ringCapacity
    options.every = every
    options.quiet = quiet
    options.duration = duration
    options.progress = isatty(STDERR_FILENO) != 0
    return options
  }

  func makeSink(model: RecurrentModel, segments: Bool) throws -> (any FrameSink)? {
    if quiet && !segments { return nil }
    return try Pipeline.makeSink(
      format: format, path: out, labels: model.head?.labels, outputCount: model.outputSize)
  }

  /// The runner of a `replay` or `capture`: options, segments and the sink.
  func makeRunner(
    model: RecurrentModel, features: FeatureConfiguration, segments: SegmentOptions, duration: Double?
  ) throws -> StreamRunner {
    var options = streamOptions(duration: duration)
    try segments.apply(to: &options)
    return try StreamRunner(
      model: model, features: features, sink: try makeSink(model: model, segments: segments.segments),
      options: options)
  }

  /// Prints the statistics table on standard error and writes `--stats-json`.
  func report(_ report: StreamReport) throws {
    writeToStandardError(report.table + "\n")
    if let statsJson {
      try NpyArray.writeBytes(report.json.encoded(), to: statsJson)
    }
    if let error = report.error { throw CommandError(description: error) }
  }
}

/// `streamrnn replay`: a file through the live path (producer thread → ring → stateful step → sink).
struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay an audio file through the same stream as live capture.",
    discussion: """
      --pace realtime (default) releases each hop of audio at its real-time deadline, so latencies \
      mean what they mean live; --pace max runs as fast as possible and never drops (the producer \
      waits for room), so outputs equal `streamrnn features` followed by `streamrnn step`.
      """)

  @Argument(help: "Audio file (anything libsndfile reads); resampled to the features' rate.")
  var file: String

  @OptionGroup var modelOptions: ModelOptions

  @Option(help: "realtime or max.")
  var pace: ReplayPace = .realtime

  @Option(help: "Use this channel (from 0) instead of the mean of all channels.")
  var channel: Int?

  @OptionGroup var features: FeatureOptions

  @OptionGroup var segmentOptions: SegmentOptions

  @OptionGroup var output: StreamOutputOptions

  func run() throws {
    installStopSignalHandlers()
    let (model, configuration) = try modelOptions.load(features: features)
    let source = ReplaySource(path: file, channel: channel.map { .channel($0) } ?? .mean, pace: pace)
    let stream = try source.openStream(sampleRate: configuration.sampleRate)
    let runner = try output.makeRunner(
      model: model, features: configuration, segments: segmentOptions, duration: nil)
    let hop = configuration.hopLength
    let report = try runner.run(waitsForRoom: pace == .max) { producer, control in
      try source.run(stream: stream, producer: producer, control: control, hop: hop)
    }
    try output.report(report)
  }
}
