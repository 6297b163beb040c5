import ALSACapture
import ArgumentParser
import StreamCore

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

  @Option(parsing: .unconditional, help: "Stop after this many seconds of audio (0 < S ≤ 31536000).")
  var duration: Double?

  @Option(
    parsing: .unconditional, help: "Milliseconds per device read, 1 to 1000 (default: one feature hop).")
  var periodMs: Double?

  @OptionGroup var features: FeatureOptions

  @OptionGroup var segmentOptions: SegmentOptions

  @OptionGroup var output: StreamOutputOptions

  func validate() throws {
    if let duration { try checkRange("--duration", duration, 0.001...31_536_000) }
    if let periodMs { try checkRange("--period-ms", periodMs, 1...1000) }
    try output.checkSingleStream()
  }

  func run() throws {
    installStopSignalHandlers()
    let setup = try StreamSetup(
      model: modelOptions, features: features, segments: segmentOptions, output: output)
    let rate = setup.features.sampleRate
    let period =
      periodMs.map { max(1, Int(($0 * Double(rate) / 1000).rounded())) } ?? setup.features.hopLength
    let source = try ALSACaptureSource.open(device: device, rate: rate, periodFrames: period)
    try setup.run(source: source, sourceName: "ALSA device \(device)", duration: duration, live: true)
  }
}
