import ALSACapture
import ArgumentParser
import Pipeline

/// `streamrnn devices`: the capture PCMs, like `arecord -L`.
struct DevicesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "devices", abstract: "List ALSA capture devices (name and description).")

  func run() throws {
    for device in try ALSACaptureSource.devices() {
      print(device.description.isEmpty ? device.name : "\(device.name)\n    \(device.description)")
    }
  }
}

/// `streamrnn capture`: live audio from an ALSA device through the stream.
struct CaptureCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "capture",
    abstract: "Run a model on live audio from an ALSA capture device.",
    discussion: """
      Reads one period at a time on a capture thread (real-time priority when permitted), turns \
      it into feature frames and pushes them into a lock-free ring; this thread steps the model \
      and writes records. Stops after --duration seconds of audio, on SIGINT/SIGTERM (drains the \
      ring, flushes, prints statistics), or when the device fails.
      """)

  @OptionGroup var modelOptions: ModelOptions

  @Option(help: "ALSA PCM name.")
  var device = "default"

  @Option(help: "Stop after this many seconds of audio.")
  var duration: Double?

  @Option(help: "Milliseconds per device read (default: one feature hop).")
  var periodMs: Double?

  @OptionGroup var features: FeatureOptions

  @OptionGroup var segmentOptions: SegmentOptions

  @OptionGroup var output: StreamOutputOptions

  func run() throws {
    installStopSignalHandlers()
    let (model, configuration) = try modelOptions.load(features: features)
    let period =
      periodMs.map { max(1, Int(($0 * Double(configuration.sampleRate) / 1000).rounded())) }
      ?? configuration.hopLength
    let source = try ALSACaptureSource.open(
      device: device, rate: configuration.sampleRate, periodFrames: period)
    let runner = try output.makeRunner(
      model: model, features: configuration, segments: segmentOptions, duration: duration)
    let report = try runner.run(waitsForRoom: false) { producer, control in
      if let notice = ALSACaptureSource.requestRealTimePriority() {
        writeToStandardError("streamrnn: \(notice)\n")
      }
      try source.run(producer: producer, control: control, counters: producer.counters)
    }
    try output.report(report)
  }
}
