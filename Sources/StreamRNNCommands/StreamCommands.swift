import ArgumentParser
import AudioFile
import BundledModels
import Features
import Layers
import ModelIO
import Pipeline
import Recurrent
import Replay
import Report
import StreamCore

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

  /// The model (as a chain of layers) and its feature configuration after the command line's
  /// overrides.
  func load(features: FeatureOptions) throws -> (LayerChain, FeatureConfiguration) {
    let name: String
    let loaded: (model: RecurrentModel, features: FeatureConfiguration?)
    if let model, modelKind == nil {
      let (chain, base) = try ModelLoader.loadChain(path: model, weightStorage: weights)
      return (chain, try check(chain, features.configuration(base: base), name: model))
    } else if let model {
      name = model
      loaded = try ModelLoader.loadWithFeatures(path: model, kind: modelKind, weightStorage: weights)
    } else {
      let bundled = try BundledModels.sileroVAD(kind: modelKind, weightStorage: weights)
      name = bundled.name
      loaded = (bundled.model, bundled.features)
    }
    if loaded.model.isBidirectional {
      throw CommandError(description: "\(name): bidirectional models need the future and cannot stream")
    }
    let chain = try LayerChain(
      layers: [.recurrent(loaded.model)], headActivation: loaded.model.head?.activation ?? .none,
      labels: loaded.model.head?.labels, kernel: loaded.model.kernel)
    return (chain, try check(chain, features.configuration(base: loaded.features), name: name))
  }

  private func check(_ chain: LayerChain, _ configuration: FeatureConfiguration, name: String) throws
    -> FeatureConfiguration
  {
    guard chain.inputSize == configuration.featureCount else {
      throw CommandError(
        description:
          "\(name): the model takes \(chain.inputSize) inputs per frame but the features give \(configuration.featureCount) (set --n-mels or the model's features metadata)"
      )
    }
    return configuration
  }
}

/// A threshold as given on the command line: `0.6` (every label) or `LABEL=0.6` (one label; the
/// label is everything before the last `=`).
struct LabelValue: ExpressibleByArgument, Equatable {
  /// The label, or nil for a plain value.
  var label: String?
  /// The value.
  var value: Float

  init?(argument: String) {
    let parts = argument.split(separator: "=", omittingEmptySubsequences: false)
    let number = parts.last.map(String.init) ?? ""
    guard let value = Float(number), value.isFinite else { return nil }
    if parts.count > 1 {
      let label = String(argument.dropLast(number.count + 1))
      guard !label.isEmpty else { return nil }
      self.label = label
    }
    self.value = value
  }

  static var defaultCompletionKind: CompletionKind { .default }
}

/// Speech segments, per-label events and the state reset policy: observers of the stream.
struct SegmentOptions: ParsableArguments {
  @Flag(
    help:
      "Emit speech segments as JSON Lines: a start event as soon as speech starts, a segment when it ends.")
  var segments = false

  @Flag(
    help: """
      Emit per-label onset/offset events as JSON Lines for any model with outputs (thresholds with \
      hysteresis, optional median filter, minimum event and gap durations).
      """)
  var events = false

  @Option(
    help: "The output that carries the speech probability (a single-output model uses its only output).")
  var speechLabel = "speech"

  @Option(
    name: .customLong("threshold"), parsing: .unconditionalSingleValue,
    help: ArgumentHelp(
      "Threshold, 0 to 1: speech segments' (get_speech_timestamps' threshold), events' on threshold, and where sigmoid outputs become 'top'. With --events also LABEL=VALUE for one label (repeat the option).",
      valueName: "value|label=value"))
  var thresholdValues: [LabelValue] = []

  @Option(parsing: .unconditional, help: "Exit threshold, 0 to --threshold (default: threshold - 0.15).")
  var negThreshold: Float?

  @Option(
    name: .customLong("off-threshold"), parsing: .unconditionalSingleValue,
    help: ArgumentHelp(
      "Events' off threshold, 0 to the label's on threshold (default: on - 0.15, at least 0.01); LABEL=VALUE for one label (repeat the option).",
      valueName: "value|label=value"))
  var offThresholdValues: [LabelValue] = []

  @Option(
    parsing: .unconditional,
    help:
      "Events: centred median filter over K frames, K odd 1 to 255 (adds (K-1)/2 frames of decision delay).")
  var medianFrames = 1

  @Option(parsing: .unconditional, help: "Events: shorter events are dropped, ms (0 to 3600000).")
  var minEventMs: Double = 0

  @Option(
    parsing: .unconditional, help: "Events: shorter gaps inside an event are filled, ms (0 to 3600000).")
  var minGapMs: Double = 0

  @Option(help: "Events: only these labels, comma-separated (default: every output).")
  var eventLabels: String?

  @Option(parsing: .unconditional, help: "Shorter segments are discarded, ms (0 to 3600000).")
  var minSpeechDurationMs: Double = 250

  @Option(parsing: .unconditional, help: "Silence that ends a segment, ms (0 to 3600000).")
  var minSilenceDurationMs: Double = 100

  @Option(parsing: .unconditional, help: "Padding added at both ends of each segment, ms (0 to 60000).")
  var speechPadMs: Double = 30

  @Option(
    parsing: .unconditional, help: "Split segments longer than this, s (default: never; at most 86400).")
  var maxSpeechDurationS: Double?

  @Option(
    parsing: .unconditional,
    help: "Reset the model state after this many seconds without speech (0 < S ≤ 86400; default: never).")
  var resetAfterSilence: Double?

  /// The plain `--threshold` (the last one given), 0.5 by default.
  var threshold: Float { thresholdValues.last(where: { $0.label == nil })?.value ?? 0.5 }

  /// The per-label event parameters these options give.
  var eventParameters: EventParameters {
    var parameters = EventParameters()
    parameters.threshold = threshold
    parameters.offThreshold = offThresholdValues.last(where: { $0.label == nil })?.value
    for item in thresholdValues {
      if let label = item.label { parameters.labelThresholds[label] = item.value }
    }
    for item in offThresholdValues {
      if let label = item.label { parameters.labelOffThresholds[label] = item.value }
    }
    parameters.medianFrames = medianFrames
    parameters.minEventSeconds = minEventMs / 1000
    parameters.minGapSeconds = minGapMs / 1000
    parameters.labels = eventLabels.map { $0.split(separator: ",").map { String($0) } }
    return parameters
  }

  /// Whether any observer emits events (the records must be JSON Lines).
  var emitsEvents: Bool { segments || events }

  var parameters: SegmentParameters {
    var parameters = SegmentParameters()
    parameters.threshold = threshold
    parameters.negativeThreshold = negThreshold
    parameters.minSpeechMs = minSpeechDurationMs
    parameters.minSilenceMs = minSilenceDurationMs
    parameters.speechPadMs = speechPadMs
    parameters.maxSpeechSeconds = maxSpeechDurationS ?? .infinity
    return parameters
  }

  func validate() throws {
    for (flag, items) in [("--threshold", thresholdValues), ("--off-threshold", offThresholdValues)] {
      for item in items {
        try checkRange(item.label.map { "\(flag) \($0)=" } ?? flag, Double(item.value), 0...1)
      }
    }
    if !events {
      if thresholdValues.contains(where: { $0.label != nil }) {
        throw ValidationError(
          "--threshold LABEL=VALUE goes with --events (segments take a plain --threshold)")
      }
      if !offThresholdValues.isEmpty || medianFrames != 1 || minEventMs != 0 || minGapMs != 0
        || eventLabels != nil
      {
        throw ValidationError(
          "--off-threshold, --median-frames, --min-event-ms, --min-gap-ms and --event-labels go with --events"
        )
      }
    }
    guard (1...255).contains(medianFrames), medianFrames % 2 == 1 else {
      throw ValidationError("--median-frames \(medianFrames) is out of range: an odd number from 1 to 255")
    }
    try checkRange("--min-event-ms", minEventMs, 0...3_600_000)
    try checkRange("--min-gap-ms", minGapMs, 0...3_600_000)
    try checkRange("--threshold", Double(threshold), 0...1)
    if let negThreshold { try checkRange("--neg-threshold", Double(negThreshold), 0...Double(threshold)) }
    try checkRange("--min-speech-duration-ms", minSpeechDurationMs, 0...3_600_000)
    try checkRange("--min-silence-duration-ms", minSilenceDurationMs, 0...3_600_000)
    try checkRange("--speech-pad-ms", speechPadMs, 0...60_000)
    if let maxSpeechDurationS {
      // Longer than one frame plus both paddings at any frame length up to 1 s.
      let shortest = 1 + 2 * speechPadMs / 1000
      try checkRange("--max-speech-duration-s", maxSpeechDurationS, shortest...86_400)
    }
    if let resetAfterSilence { try checkRange("--reset-after-silence", resetAfterSilence, 0.001...86_400) }
  }

  /// The observers these options ask for.
  func observers() throws -> [any StreamObserver] {
    var observers: [any StreamObserver] = []
    if segments { observers.append(SegmentObserver(parameters: parameters, speechLabel: speechLabel)) }
    if events { observers.append(EventObserver(parameters: eventParameters)) }
    if let resetAfterSilence {
      observers.append(
        try SilenceResetPolicy(
          seconds: resetAfterSilence, threshold: parameters.negativeThreshold ?? max(threshold - 0.15, 0.01),
          speechLabel: speechLabel))
    }
    return observers
  }
}

/// Where per-frame records and statistics go.
struct StreamOutputOptions: ParsableArguments {
  @Option(
    help:
      "Record format: jsonl (default, one JSON object per frame), csv, or npy (outputs only; needs --out).")
  var format: SinkFormat = .jsonl

  @Option(
    help: "Write records to this file instead of standard output (written whole at the end of the stream).")
  var out: String?

  @Option(
    help:
      "Also write the statistics as JSON to this file (with a \"run\" object that `streamrnn report` reads).")
  var statsJson: String?

  @Flag(
    inversion: .prefixedNo,
    help: """
      Show the live meter on standard error (input level, per-label bars, speech/event state, \
      drops, p99). Default: on for capture and realtime replay on a terminal, unless records go to \
      that terminal; --no-meter keeps the one-line progress.
      """)
  var meter: Bool?

  @Option(
    help:
      "When the stream ends, write a self-contained HTML report (waveform, features, outputs, segments/events, latency histograms) to this file."
  )
  var report: String?

  @Option(parsing: .unconditional, help: "Write one record in N (1 to 1000000).")
  var every = 1

  @Flag(help: "Statistics only: write no per-frame records.")
  var quiet = false

  @Flag(
    help:
      "Write step_us and latency_us as null, so that runs over the same audio give byte-identical records.")
  var noTimings = false

  @Option(
    parsing: .unconditional,
    help: "Frames the ring between the source and the model holds (a power of two, 2 to 1048576).")
  var ringCapacity = 256

  func validate() throws {
    try checkRange("--every", Double(every), 1...1_000_000)
    let range = StreamOptions.ringCapacityRange
    guard range.contains(ringCapacity), ringCapacity & (ringCapacity - 1) == 0 else {
      throw ValidationError(
        "--ring-capacity \(ringCapacity) is out of range: a power of two from 2 to \(range.upperBound)")
    }
  }

  /// One stream's outputs: `.npy` is written whole at the end, so it needs a file.
  func checkSingleStream() throws {
    if format == .npy && out == nil { throw ValidationError("--format npy needs --out FILE") }
  }
}

/// What `replay` and `capture` share: the model, features, observers and outputs, wired to a
/// source by ``run(source:duration:)``.
struct StreamSetup {
  let model: LayerChain
  let features: FeatureConfiguration
  let segments: SegmentOptions
  let output: StreamOutputOptions
  /// The model as the user named it (a path, or the bundled model).
  let modelName: String

  /// Loads the model and checks every option that can be checked before the source opens.
  init(model: ModelOptions, features: FeatureOptions, segments: SegmentOptions, output: StreamOutputOptions)
    throws
  {
    if segments.emitsEvents && !output.quiet && !output.format.takesEvents {
      let flag = segments.segments ? "--segments" : "--events"
      throw CommandError(
        description: "\(flag) writes JSON Lines events: use --format jsonl (or --quiet) with \(flag)")
    }
    (self.model, self.features) = try model.load(features: features)
    modelName = model.model ?? bundledModelName
    self.segments = segments
    self.output = output
  }

  /// Runs `source` (called `sourceName` in reports) through the stream, prints the statistics and
  /// writes `--stats-json` and `--report`.
  /// `live`: the source runs at real-time pace (capture, realtime replay), where the meter is on by
  /// default.
  func run(source: any FrameSource, sourceName: String, duration: Double?, live: Bool) throws {
    var options = StreamOptions()
    options.ringCapacity = output.ringCapacity
    options.every = output.every
    options.quiet = output.quiet
    options.timings = !output.noTimings
    options.duration = duration
    var observers = try segments.observers()
    let statusLine = TerminalStatusLine()
    let recordsOnTerminal =
      output.out == nil && (!output.quiet || segments.emitsEvents) && isatty(STDOUT_FILENO) != 0
    var audioTap: (any AudioTap)?
    if output.meter ?? (live && isatty(STDERR_FILENO) != 0 && !recordsOnTerminal) {
      var parameters = segments.eventParameters
      if !segments.events, let negThreshold = segments.negThreshold { parameters.offThreshold = negThreshold }
      let meter = LiveMeter(screen: statusLine, parameters: parameters, speechLabel: segments.speechLabel)
      observers.append(meter)
      audioTap = meter
    } else if isatty(STDERR_FILENO) != 0 {
      observers.append(ProgressDisplay(line: statusLine))
    }
    var sink: (any FrameSink)? =
      output.quiet && !segments.emitsEvents
      ? nil
      : try makeSink(
        format: output.quiet ? .jsonl : output.format, path: output.out, topThreshold: segments.threshold,
        statusLine: output.out == nil && isatty(STDOUT_FILENO) != 0 ? statusLine : nil)
    var reportBuilder: ReportBuilder?
    if output.report != nil {
      let builder = try ReportBuilder(features: features)
      observers.append(ReportObserver(builder: builder, speechLabel: segments.speechLabel))
      sink = ReportingSink(wrapping: sink, builder: builder)
      reportBuilder = builder
      audioTap = audioTap.map { AudioTapPair($0, builder) } ?? builder
    }
    let runner = try StreamRunner(
      model: model, features: features, sink: sink, observers: observers, audioTap: audioTap, options: options
    )
    let report = try runner.run(source: source)
    writeToStandardError(report.statistics + "\n")
    for notice in report.notices { writeToStandardError("streamrnn: \(notice)\n") }
    if report.clockSuspectWindows > 0 {
      writeToStandardError(
        "streamrnn: warning: the device delivered audio much faster or slower than real time (\(report.clockSuspectWindows) 2-s windows; records flagged clock_suspect): check its period size and rate\n"
      )
    }
    if report.nonFiniteFrames > 0 {
      writeToStandardError(
        "streamrnn: warning: the model's outputs were NaN or infinite in \(report.nonFiniteFrames) of \(report.frames) frames (written as null)\n"
      )
    }
    let stats = statsWithRun(report, runner: runner, sourceName: sourceName)
    if let statsJson = output.statsJson { try NpyArray.writeBytes(stats.encoded(), to: statsJson) }
    if let path = output.report, let reportBuilder {
      let html = HTMLReport.render(try reportData(stats: stats, builder: reportBuilder))
      try NpyArray.writeBytes(Array(html.utf8), to: path)
    }
    if let error = report.error { throw CommandError(description: error) }
  }
}

extension StreamSetup {
  /// The statistics of `report` with the `"run"` object reports read: model, features, audio,
  /// machine, timing of records, labels and the thresholds drawn as lines.
  func statsWithRun(_ report: StreamReport, runner: StreamRunner, sourceName: String) -> JSONValue {
    var run = ReportRun()
    run.model = modelName
    run.features = describe(features)
    run.source = sourceName
    run.machine = machineDescription()
    run.sampleRate = features.sampleRate
    run.frameSeconds = runner.description.secondsPerFrame
    run.inputFrameSeconds = Double(features.hopLength) / Double(features.sampleRate)
    run.labels = outputNames(runner.description)
    run.speechLabel =
      runner.description.labels?.contains(segments.speechLabel) == true
      ? segments.speechLabel : run.labels.first ?? segments.speechLabel
    if segments.events {
      let parameters = segments.eventParameters
      for label in parameters.labels ?? run.labels {
        let (on, off) = parameters.thresholds(for: label)
        run.thresholds[label] = (on, off)
      }
    }
    if segments.segments || segments.resetAfterSilence != nil {
      run.thresholds[run.speechLabel] = (
        segments.threshold, segments.negThreshold ?? max(segments.threshold - 0.15, 0.01)
      )
    }
    guard case .object(var object) = report.json else { return report.json }
    object["run"] = run.json
    return .object(object)
  }
}

/// Features in words: kind, size, hop and rate.
func describe(_ features: FeatureConfiguration) -> String {
  let hop = formatted("%.1f", Double(features.hopLength) / Double(features.sampleRate) * 1000)
  switch features {
  case .logmel(let configuration):
    return "log-mel, \(configuration.nMels) bands, hop \(hop) ms, \(configuration.sampleRate) Hz"
  case .fbank(let configuration):
    return "Kaldi fbank, \(configuration.numMelBins) bins, hop \(hop) ms, \(features.sampleRate) Hz"
  case .learned(let frontend):
    return
      "learned frontend (STFT + \(frontend.convs.count) convolutions), \(frontend.featureCount) per frame, hop \(hop) ms, \(frontend.sampleRate) Hz"
  }
}

/// How statistics and reports name the bundled Silero VAD (`run.model` when no `--model` was
/// given); `streamrnn report` recognises it to draw the bundled model's features.
let bundledModelName = "Silero VAD (bundled)"

/// `streamrnn replay`: a file through the live path (source thread → ring → stateful step → sink).
struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay audio files through the same stream as live capture, one stream or many.",
    discussion: """
      --pace realtime (default) releases each hop of audio at its real-time deadline, so latencies \
      mean what they mean live; --pace max runs as fast as possible and never drops (the producer \
      waits for room), so outputs equal `streamrnn features` followed by `streamrnn step`. \
      With --streams N (or several files), N sessions of one multi-stream engine replay the files \
      round-robin (session i plays file i mod count), each written to DIR/session-000.jsonl … \
      (.csv, .npy with --format), identical to a single replay of that file.
      """)

  @Argument(help: "Audio files (anything libsndfile reads); resampled to the features' rate.")
  var files: [String]

  @OptionGroup var modelOptions: ModelOptions

  @Option(help: "realtime or max.")
  var pace: ReplayPace = .realtime

  @Option(parsing: .unconditional, help: "Use this channel (from 0) instead of the mean of all channels.")
  var channel: Int?

  @Option(
    parsing: .unconditional,
    help: "Sessions of the multi-stream engine (1 to 100000; default: one per file when several are given).")
  var streams: Int?

  @Option(parsing: .unconditional, help: "Worker threads for --streams (1 to 256; default: one per core).")
  var threads: Int?

  @Option(help: "With --streams: write each session's records to DIR/session-NNN.<format>.")
  var outDir: String?

  @Flag(
    help: "With --streams: start each session at a random moment within the first second (realtime pace).")
  var stagger = false

  @OptionGroup var features: FeatureOptions

  @OptionGroup var segmentOptions: SegmentOptions

  @OptionGroup var output: StreamOutputOptions

  var multiStream: Bool { streams != nil || files.count > 1 }

  func validate() throws {
    if let channel { try checkRange("--channel", Double(channel), 0...1023) }
    guard !files.isEmpty else { throw ValidationError("give at least one audio file") }
    if let streams { try checkRange("--streams", Double(streams), 1...100_000) }
    if let threads { try checkRange("--threads", Double(threads), 1...256) }
    if multiStream {
      if output.out != nil {
        throw ValidationError("--streams writes one file per session: use --out-dir DIR, not --out")
      }
      if outDir == nil && !output.quiet {
        throw ValidationError(
          "--streams writes one file per session: give --out-dir DIR (or --quiet for statistics only)")
      }
      if output.report != nil {
        throw ValidationError("--report draws one stream: replay one file without --streams")
      }
      if outDir == nil && output.format == .npy {
        throw ValidationError("--format npy needs --out-dir DIR with --streams")
      }
    } else {
      try output.checkSingleStream()
      if outDir != nil {
        throw ValidationError("--out-dir goes with --streams N (or several files); one stream uses --out")
      }
      if threads != nil || stagger { throw ValidationError("--threads and --stagger go with --streams N") }
    }
  }

  func run() throws {
    installStopSignalHandlers()
    let setup = try StreamSetup(
      model: modelOptions, features: features, segments: segmentOptions, output: output)
    guard multiStream else {
      let source = try ReplaySource(
        path: files[0], sampleRate: setup.features.sampleRate, channel: channel.map { .channel($0) } ?? .mean,
        pace: pace)
      try setup.run(source: source, sourceName: files[0], duration: nil, live: pace == .realtime)
      return
    }
    try MultiStreamReplay(
      setup: setup, files: files, sessions: streams ?? files.count, threads: threads, outDir: outDir,
      pace: pace,
      stagger: stagger, channel: channel
    ).run()
  }
}

/// Throws a one-line validation error unless `value` is finite and in `range`.
func checkRange(_ option: String, _ value: Double, _ range: ClosedRange<Double>) throws {
  guard value.isFinite, range.contains(value) else {
    throw ValidationError(
      "\(option) \(value) is out of range: allowed \(number(range.lowerBound)) to \(number(range.upperBound))"
    )
  }
}

/// A bound as people write it: integers without ".0".
private func number(_ value: Double) -> String {
  value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
