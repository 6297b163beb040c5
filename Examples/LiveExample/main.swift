// Live voice activity detection: the default ALSA capture device (or the one named on the command
// line) through the bundled Silero VAD, printing speech start/end events as they happen.
//
//   swift run -c release LiveExample [DEVICE]        (Ctrl-C stops; the statistics follow)
import ALSACapture
import BundledModels
import Pipeline
import StreamCore

let device = CommandLine.arguments.dropFirst().first ?? "default"
do {
  let vad = try BundledModels.sileroVAD()
  let source = try ALSACaptureSource.open(
    device: device, rate: vad.features.sampleRate, periodFrames: vad.features.hopLength)
  var options = StreamOptions()
  options.quiet = true  // events only, no per-frame records
  let runner = try StreamRunner(
    model: vad.model, features: vad.features, sink: JSONLinesSink(path: nil), observers: [SegmentObserver()],
    options: options)
  installStopSignalHandlers()
  let report = try runner.run(source: source)
  print(report.table)
} catch {
  print("error: \(error)")
}
