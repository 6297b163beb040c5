import ArgumentParser
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent

extension SinkFormat: ExpressibleByArgument {}
extension ReplayPace: ExpressibleByArgument {}

/// The model of a stream.
struct ModelOptions: ParsableArguments {
  @Option(help: "Model file (safetensors). Its 'features' metadata sets the features; flags override it.")
  var model: String

  @Option(help: "Cell kind, overriding the model file's 'kind' metadata.")
  var modelKind: RecurrentKind?

  /// The model and its feature configuration after the command line's overrides.
  func load(features: FeatureOptions) throws -> (RecurrentModel, FeatureConfiguration) {
    let loaded = try ModelLoader.loadWithFeatures(path: model, kind: modelKind)
    let configuration = try features.configuration(base: loaded.features)
    if loaded.model.isBidirectional {
      throw CommandError(description: "\(model): bidirectional models need the future and cannot stream")
    }
    return (loaded.model, configuration)
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

  func makeSink(model: RecurrentModel) throws -> (any FrameSink)? {
    if quiet { return nil }
    return try Pipeline.makeSink(
      format: format, path: out, labels: model.head?.labels, outputCount: model.outputSize)
  }

  /// Prints the statistics table on standard error and writes `--stats-json`.
  func report(_ report: StreamReport) throws {
    FileHandle.standardError.write(Data((report.table + "\n").utf8))
    if let statsJson {
      let data = try JSONSerialization.data(
        withJSONObject: report.json, options: [.prettyPrinted, .sortedKeys])
      try NpyArray.writeBytes(Array(data), to: statsJson)
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

  @OptionGroup var output: StreamOutputOptions

  func run() throws {
    installStopSignalHandlers()
    let (model, configuration) = try modelOptions.load(features: features)
    let source = ReplaySource(path: file, channel: channel.map { .channel($0) } ?? .mean, pace: pace)
    let stream = try source.openStream(sampleRate: configuration.sampleRate)
    let runner = try StreamRunner(
      model: model, features: configuration, sink: try output.makeSink(model: model),
      options: output.streamOptions(duration: nil))
    let hop = configuration.hopLength
    let report = try runner.run(waitsForRoom: pace == .max) { producer, control in
      try source.run(stream: stream, producer: producer, control: control, hop: hop)
    }
    try output.report(report)
  }
}
