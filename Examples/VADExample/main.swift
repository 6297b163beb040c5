// Voice activity detection on a file with the library API: the bundled Silero VAD over a replayed
// WAV at full speed, speech segments printed as they close (get_speech_timestamps' rules).
//
//   swift run -c release VADExample AUDIO.wav
import BundledModels
import Pipeline
import Replay
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// Prints each finished segment in seconds.
final class SegmentPrinter: EventSink {
  var sampleRate = 1.0
  func begin(_ stream: StreamDescription) throws { sampleRate = Double(stream.sampleRate) }
  func write(_ record: FrameRecord) throws {}
  func write(_ event: StreamEvent) throws {
    if case .speechSegment(let start, let end) = event {
      print(formatted("speech %7.3f s – %7.3f s", Double(start) / sampleRate, Double(end) / sampleRate))
    }
  }
  func finish() throws {}
}

guard CommandLine.arguments.count == 2 else {
  writeToStandardError("usage: VADExample AUDIO.wav\n")
  exit(2)
}
do {
  let vad = try BundledModels.sileroVAD()
  let source = try ReplaySource(
    path: CommandLine.arguments[1], sampleRate: vad.features.sampleRate, pace: .max)
  var options = StreamOptions()
  options.quiet = true
  let runner = try StreamRunner(
    model: vad.model, features: vad.features, sink: SegmentPrinter(), observers: [SegmentObserver()],
    options: options)
  _ = try runner.run(source: source)
} catch {
  writeToStandardError("error: \(error)\n")
  exit(1)
}
