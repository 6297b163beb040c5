import AllocationCounter
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent
import Replay
import Report
import StreamCore
import Testing

@testable import ALSACapture

final class AllocationBox: @unchecked Sendable {
  var value: UInt64?
}

let speech = ALSAKit.packageRoot + "/Tests/Golden/features/audio/speech_16k_s16.wav"
let demoModel = ALSAKit.packageRoot + "/Examples/demo/gru2x64-head2.safetensors"

final class CollectingSink: FrameSink {
  var outputs: [Float] = []
  var discontinuous: [Int] = []
  var indices: [Int] = []
  var clockSuspect = 0
  func write(_ record: FrameRecord) throws {
    if record.clockSuspect { clockSuspect += 1 }
    outputs.append(contentsOf: record.outputs)
    indices.append(record.index)
    if record.discontinuity { discontinuous.append(record.index) }
  }
  func finish() throws {}
}

func stream(source: ALSACaptureSource, seconds: Double, sink: CollectingSink) throws -> StreamReport {
  let model = try ModelLoader.load(path: demoModel)
  var options = StreamOptions()
  options.duration = seconds
  let runner = try StreamRunner(
    model: model, features: .logmel(LogMelConfiguration()), sink: sink, options: options)
  return try runner.run(source: source)
}

@Suite("ALSA capture through the real libasound path", .serialized, .enabled(if: ALSAKit.available))
struct ALSACaptureTests {
  init() { _ = ALSAKit.configured }

  @Test func captureEqualsReplayOfTheSameFile() throws {
    let feeder = try ALSAKit.startFeeder(speech)
    defer { feeder.process.terminate() }
    let source = try ALSACaptureSource.open(
      device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 160)
    #expect(source.formatName == "S16_LE" && source.deviceRate == 16000 && source.channels == 1)
    let captured = CollectingSink()
    let report = try stream(source: source, seconds: 5.2, sink: captured)
    #expect(report.dropped == 0 && report.xruns == 0)
    #expect(report.clockSuspectWindows == 0, "a paced device was taken for a broken clock")

    // The replay of the same file: every frame made only of the file's samples must be equal.
    let model = try ModelLoader.load(path: demoModel)
    let replayed = CollectingSink()
    let runner = try StreamRunner(
      model: model, features: .logmel(LogMelConfiguration()), sink: replayed, options: StreamOptions())
    _ = try runner.run(source: try ReplaySource(path: speech, sampleRate: 16000, pace: .max))
    let fileFrames = replayed.outputs.count / model.outputSize
    #expect(fileFrames > 400)
    #expect(captured.outputs.count >= replayed.outputs.count)
    #expect(Array(captured.outputs.prefix(replayed.outputs.count)) == replayed.outputs)
  }

  @Test func aCaptureReportDrawsTheDeviceAudioFeaturesAndEvents() throws {
    let feeder = try ALSAKit.startFeeder(speech)
    defer { feeder.process.terminate() }
    let source = try ALSACaptureSource.open(
      device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 160)
    let features = FeatureConfiguration.logmel(LogMelConfiguration())
    let builder = try ReportBuilder(features: features)
    var parameters = EventParameters()
    parameters.labelThresholds = ["active": 0.45]
    parameters.offThreshold = 0.42
    var options = StreamOptions()
    options.duration = 4
    let model = try ModelLoader.load(path: demoModel)
    let runner = try StreamRunner(
      model: model, features: features, sink: ReportingSink(wrapping: nil, builder: builder),
      observers: [EventObserver(parameters: parameters), ReportObserver(builder: builder)], audioTap: builder,
      options: options)
    let report = try runner.run(source: source)
    #expect(report.dropped == 0 && report.frames >= 400)
    guard case .object(var stats) = report.json else { return }
    stats["run"] = ReportRun().json
    let data = try reportData(stats: .object(stats), builder: builder)
    // The device's audio: 4 s of speech (plus what the device delivered before the stop).
    let waveform = try #require(data.waveform)
    #expect(data.duration >= 4 && data.duration < 5)
    #expect((waveform.high.max() ?? 0) > 0.05 && (waveform.low.min() ?? 0) < -0.05)
    // The model's own features (40 log-mel bands), one lane per label, the events as bands.
    let spectrogram = try #require(data.spectrogram)
    #expect(spectrogram.bands == 40 && spectrogram.columns > 100 && spectrogram.title == "log-mel 40")
    #expect(data.lanes.map(\.label) == ["quiet", "active"])
    #expect(data.bands.contains { $0.label == "active" } && data.bands.allSatisfy { $0.end > $0.start })
    #expect(
      data.histograms.map { $0.bins.reduce(0) { $0 + $1.count } } == [
        report.frames, report.frames, report.frames,
      ])
    #expect(HTMLReport.render(data).contains("<g class=\"lane\" data-label=\"active\">"))
  }

  @Test func theCaptureLoopAllocatesNothing() throws {
    let feeder = try ALSAKit.startFeeder(speech)
    defer { feeder.process.terminate() }
    let source = try ALSACaptureSource.open(
      device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 160)
    let model = try ModelLoader.load(path: demoModel)
    var options = StreamOptions()
    options.duration = 2
    let runner = try StreamRunner(
      model: model, features: .logmel(LogMelConfiguration()), sink: nil, options: options)
    let counted = AllocationBox()
    // Half a second of warm-up (libasound starts the device on the first read), then the count
    // runs on the capture thread itself for the rest of the stream.
    source.countAllocations = (
      afterPeriods: 50, start: allocation_counter_start, stop: { counted.value = allocation_counter_stop() }
    )
    let report = try runner.run(source: source)
    #expect(report.frames >= 190)
    #expect(counted.value == 0, "the capture loop allocated \(counted.value ?? 0) times")
  }

  @Test func aMissingDeviceIsAClearError() {
    do {
      _ = try ALSACaptureSource.open(device: "no_such_pcm", rate: 16000, periodFrames: 160)
      Issue.record("opened a device that does not exist")
    } catch {
      #expect("\(error)" == "ALSA device 'no_such_pcm': snd_pcm_open failed: No such file or directory (-2)")
    }
  }

  @Test func devicesListTheKitsPCMs() throws {
    let names = try ALSACaptureSource.devices().map(\.name)
    #expect(names.contains("streamrnn_fifo") && names.contains("streamrnn_jack"))
  }

  @Test(.enabled(if: ALSAKit.jackAvailable))
  func aStalledCaptureThreadOverrunsRecoversAndFlagsTheGap() throws {
    #expect(ALSAKit.jack("start") == 0, "jack-dummy.sh start failed")
    defer { _ = ALSAKit.jack("stop") }
    let source = try ALSACaptureSource.open(device: "streamrnn_jack", rate: 16000, periodFrames: 160)
    // 100 ms into the stream, the capture thread stops reading for 500 ms: the 80 ms buffer overruns.
    source.stallBeforePeriod = { $0 == 10 ? 500 : 0 }
    let sink = CollectingSink()
    let report = try stream(source: source, seconds: 1.5, sink: sink)
    #expect(report.xruns >= 1, "no overrun counted")
    #expect(report.discontinuities >= 1 && !sink.discontinuous.isEmpty, "the gap was not flagged")
    #expect(report.error == nil)
    // Capture went on after recovering: frames keep coming well past the stall.
    #expect(report.frames > 100, "only \(report.frames) frames after the overrun")
    // The 500 ms stall lost about 500 ms of audio (the buffered 80 ms included).
    #expect(report.lostSeconds > 0.4 && report.lostSeconds < 0.7, "lost \(report.lostSeconds) s")
  }

  @Test func aDeviceThatRunsFarTooFastIsFlagged() throws {
    // The feeder writes 160-frame chunks but the reader asks 480-frame periods: the FIFO returns
    // short reads that libasound pads, and "9 s of audio" arrive in about 3 s.
    let feeder = try ALSAKit.startFeeder(speech)
    defer { feeder.process.terminate() }
    let source = try ALSACaptureSource.open(
      device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 480)
    let sink = CollectingSink()
    let started = Date()
    let report = try stream(source: source, seconds: 9, sink: sink)
    let wall = Date().timeIntervalSince(started)
    #expect(wall < 7, "the device was not fast after all (\(wall) s)")
    #expect(report.clockSuspectWindows >= 1, "audio ran \(9 / wall)x real time unnoticed")
    #expect(sink.clockSuspect > 0, "no record was flagged")
  }

  #if DEBUG
    @Test func aSuspendedDeviceIsResumedCountedAndFlagged() throws {
      let feeder = try ALSAKit.startFeeder(speech)
      defer { feeder.process.terminate() }
      let source = try ALSACaptureSource.open(
        device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 160)
      let plan = ALSACalls.FaultPlan(readErrors: [30: -ESTRPIPE], resumeAgains: 3)
      ALSACalls.faultPlan = plan
      defer { ALSACalls.faultPlan = nil }
      let sink = CollectingSink()
      let report = try stream(source: source, seconds: 1.5, sink: sink)
      #expect(report.suspends == 1 && report.xruns == 0 && report.error == nil)
      #expect(plan.resumes == 4, "resume answered -EAGAIN three times, then 0")
      #expect(report.discontinuities == 1 && sink.discontinuous.count == 1, "the gap was not flagged")
      #expect(report.frames >= 140, "capture did not go on after the resume: \(report.frames) frames")
      #expect(report.json.object?["suspends"] == .number(1))
    }

    @Test func aDeviceThatGoesAwayEndsTheStreamWithATypedError() throws {
      let feeder = try ALSAKit.startFeeder(speech)
      defer { feeder.process.terminate() }
      let source = try ALSACaptureSource.open(
        device: "streamrnn_fifo:FIFO=\(feeder.fifo)", rate: 16000, periodFrames: 160)
      ALSACalls.faultPlan = ALSACalls.FaultPlan(readErrors: [50: -ENODEV])
      defer { ALSACalls.faultPlan = nil }
      let sink = CollectingSink()
      let report = try stream(source: source, seconds: 10, sink: sink)
      let error = try #require(report.sourceError as? ALSAError)
      #expect(error.code == -ENODEV && error.function == "snd_pcm_readi")
      #expect(report.error?.contains("No such device") == true, "\(report.error ?? "")")
      // The 50 periods read before the failure were stepped (the first frame needs 512 samples).
      #expect(report.frames == 1 + (50 * 160 - 512) / 160 && sink.indices.count == report.frames)
      #expect(report.table.contains("stopped early: ALSA device"))
    }
  #endif
}
