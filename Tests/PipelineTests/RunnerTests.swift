import AllocationCounter
import BundledModels
import Features
import Foundation
import Layers
import ModelIO
import Pipeline
import Recurrent
import Replay
import Report
import StreamCore
import Testing

/// Counts allocations on the consumer thread from one frame to another (a probe observer).
final class AllocationProbe: StreamObserver {
  let from: Int
  let to: Int
  var counted: UInt64?
  init(from: Int, to: Int) {
    self.from = from
    self.to = to
  }
  func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    if record.index == from { allocation_counter_start() }
    if record.index == to { counted = allocation_counter_stop() }
    return .proceed
  }
}

/// Counts what it is given; allocates nothing per call.
final class CountingEventSink: EventSink {
  var records = 0
  var events = 0
  var segments = 0
  var onsets = 0
  var lastIndex = -1
  func write(_ record: FrameRecord) throws {
    records += 1
    lastIndex = record.index
  }
  func write(_ event: StreamEvent) throws {
    events += 1
    if case .speechSegment = event { segments += 1 }
    if case .onset = event { onsets += 1 }
  }
  func finish() throws {}
}

/// Pushes `blocks` blocks of silence, then fails with a typed error.
final class FailingSource: FrameSource, @unchecked Sendable {
  struct DeviceGone: Error, Equatable { let code: Int32 }
  let sampleRate = 16000
  let overflow = OverflowPolicy.waitForRoom
  let blocks: Int
  init(blocks: Int) { self.blocks = blocks }
  func run(into producer: FrameProducer) throws {
    let silence = [Float](repeating: 0, count: producer.hopLength)
    for _ in 0..<blocks {
      silence.withUnsafeBufferPointer { producer.push($0, captureTime: monotonicNow(), discontinuity: false) }
    }
    throw DeviceGone(code: -19)
  }
}

@Suite("The runner: observers, sinks, errors")
struct RunnerTests {
  let silero = sileroFolder + "/speech_noise.wav"

  @Test func theConsumerLoopAllocatesNothingWithSegmentsEventsAndResets() throws {
    let vad = try BundledModels.sileroVAD()
    let probe = AllocationProbe(from: 20, to: 600)
    let sink = CountingEventSink()
    var events = EventParameters()
    events.medianFrames = 5
    events.minEventSeconds = 0.1
    events.minGapSeconds = 0.1
    let runner = try StreamRunner(
      model: vad.model, features: vad.features, sink: sink,
      observers: [
        probe, SegmentObserver(), EventObserver(parameters: events), try SilenceResetPolicy(seconds: 0.3),
        ReportObserver(builder: try ReportBuilder(features: vad.features)),
      ])
    let report = try runner.run(source: try ReplaySource(path: silero, sampleRate: 16000, pace: .max))
    #expect(report.frames > 600 && report.resetFrames.count >= 1)
    // The window covered speech segments, label events and resets, so their paths ran while
    // counting.
    #expect(sink.segments >= 3 && sink.onsets >= 3)
    #expect(probe.counted == 0, "the consumer loop allocated \(probe.counted ?? 0) times")
    // Positive control: the probe does count on this thread.
    allocation_counter_start()
    let array = [Int](repeating: 1, count: Int.random(in: 10...20))
    #expect(allocation_counter_stop() >= 1 && array.count >= 10)
  }

  @Test func everyAndQuietThinTheSinkNotTheObservers() throws {
    let vad = try BundledModels.sileroVAD()
    func run(every: Int, quiet: Bool) throws -> (CountingEventSink, StreamReport) {
      var options = StreamOptions()
      options.every = every
      options.quiet = quiet
      let sink = CountingEventSink()
      let runner = try StreamRunner(
        model: vad.model, features: vad.features, sink: sink, observers: [SegmentObserver()], options: options
      )
      return (sink, try runner.run(source: try ReplaySource(path: silero, sampleRate: 16000, pace: .max)))
    }
    let (all, report) = try run(every: 1, quiet: false)
    let (thinned, _) = try run(every: 10, quiet: false)
    let (quiet, _) = try run(every: 1, quiet: true)
    #expect(all.records == report.frames)
    #expect(thinned.records == (report.frames + 9) / 10)
    #expect(quiet.records == 0)
    #expect(all.events == thinned.events && all.events == quiet.events && all.segments >= 3)
  }

  @Test func eventObserversNeedASinkThatTakesEvents() throws {
    let vad = try BundledModels.sileroVAD()
    #expect(throws: StreamError.sinkTakesNoEvents) {
      try StreamRunner(
        model: vad.model, features: vad.features, sink: CSVSink(path: nil), observers: [SegmentObserver()])
    }
    // Without a sink, events simply have nowhere to go.
    _ = try StreamRunner(model: vad.model, features: vad.features, sink: nil, observers: [SegmentObserver()])
  }

  @Test func optionsOutOfRangeAreTypedErrors() throws {
    let vad = try BundledModels.sileroVAD()
    for capacity in [0, 3, 1 << 21, Int.max] {
      var options = StreamOptions()
      options.ringCapacity = capacity
      #expect(throws: StreamError.self) {
        try StreamRunner(model: vad.model, features: vad.features, sink: nil, options: options)
      }
    }
    var options = StreamOptions()
    options.duration = -1
    #expect(throws: StreamError.self) {
      try StreamRunner(model: vad.model, features: vad.features, sink: nil, options: options)
    }
    #expect(throws: StreamError.self) { try SilenceResetPolicy(seconds: .nan) }
    var parameters = SegmentParameters()
    parameters.maxSpeechSeconds = 0.01
    #expect(throws: StreamError.self) { try parameters.validate(chunkSamples: 512, sampleRate: 16000) }
  }

  @Test func aMissingSpeechLabelIsRefusedBeforeAnyFileIsCreated() throws {
    let model = try ModelLoader.load(path: demoModel)
    let path = NSTemporaryDirectory() + "label-\(UUID().uuidString).jsonl"
    let runner = try StreamRunner(
      model: model, features: .logmel(LogMelConfiguration()), sink: JSONLinesSink(path: path),
      observers: [SegmentObserver()])
    #expect(throws: StreamError.missingLabel("speech", labels: ["quiet", "active"])) {
      try runner.run(source: try ReplaySource(path: speech, sampleRate: 16000, pace: .max))
    }
    let folder = (path as NSString).deletingLastPathComponent
    let name = (path as NSString).lastPathComponent
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(name) }.isEmpty)
  }

  @Test func aSourceErrorEndsTheStreamAndStaysTyped() throws {
    let vad = try BundledModels.sileroVAD()
    let sink = CountingEventSink()
    let runner = try StreamRunner(model: vad.model, features: vad.features, sink: sink)
    let report = try runner.run(source: FailingSource(blocks: 40))
    #expect(report.sourceError as? FailingSource.DeviceGone == FailingSource.DeviceGone(code: -19))
    #expect(report.error == "DeviceGone(code: -19)")
    // What was pushed before the failure was stepped; the end-of-input flush did not run.
    #expect(report.frames == 40 && sink.records == 40)
  }

  @Test func aSourceAtAnotherRateIsRefused() throws {
    let model = try ModelLoader.load(path: demoModel)
    var configuration = LogMelConfiguration()
    configuration.sampleRate = 8000
    let runner = try StreamRunner(model: model, features: .logmel(configuration), sink: nil)
    #expect(throws: StreamError.sampleRateMismatch(source: 16000, features: 8000)) {
      try runner.run(source: try ReplaySource(path: speech, sampleRate: 16000, pace: .max))
    }
  }

  @Test func jsonLinesWritesNullForNonFiniteValuesAndMovesTheFileIntoPlace() throws {
    let path = NSTemporaryDirectory() + "records-\(UUID().uuidString).jsonl"
    let sink = JSONLinesSink(path: path)
    try sink.begin(
      StreamDescription(
        sampleRate: 16000, hopLength: 160, outputCount: 3, labels: ["a", "b", "c"],
        independentProbabilities: true))
    let values: [Float] = [.nan, 0.25, .infinity]
    try values.withUnsafeBufferPointer {
      try sink.write(
        FrameRecord(
          index: 0, time: 0, outputs: $0, stepMicroseconds: 1, latencyMicroseconds: .nan, discontinuity: false
        ))
    }
    #expect(!FileManager.default.fileExists(atPath: path), "the file appeared before the stream finished")
    try sink.finish()
    let line = try String(contentsOfFile: path, encoding: .utf8)
    let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    let outputs = try #require(record["outputs"] as? [String: Any])
    #expect(outputs["a"] is NSNull && outputs["b"] as? Double == 0.25 && outputs["c"] is NSNull)
    #expect(record["latency_us"] is NSNull)
  }
}

/// Keeps every record's number, time and first output, and every event.
final class RecordingEventSink: EventSink {
  var indices: [Int] = []
  var times: [Double] = []
  var firstOutputs: [Float] = []
  var events: [StreamEvent] = []
  var description: StreamDescription?
  func begin(_ stream: StreamDescription) throws { description = stream }
  func write(_ record: FrameRecord) throws {
    indices.append(record.index)
    times.append(record.time)
    firstOutputs.append(record.outputs[0])
  }
  func write(_ event: StreamEvent) throws { events.append(event) }
  func finish() throws {}
}

@Suite("Layer chains in the runner: subsampling, lookahead")
struct SubsampledRunnerTests {
  /// 4 log-mel bands of the demo speech; a "speech" output = σ(mean band − median).
  func run(_ layers: [Layer], segments: Bool) throws -> RecordingEventSink {
    var configuration = LogMelConfiguration()
    configuration.nMels = 4
    let chain = try LayerChain(layers: layers, labels: ["speech"])
    let sink = RecordingEventSink()
    let runner = try StreamRunner(
      model: chain, features: .logmel(configuration), sink: sink,
      observers: segments ? [SegmentObserver()] : [])
    _ = try runner.run(source: try ReplaySource(path: speech, sampleRate: 16000, pace: .max))
    return sink
  }

  @Test func recordsKeepInputFrameNumbersAndSegmentsKeepTheirTimes() throws {
    let mean = Layer.linear(try Linear(weight: [0.25, 0.25, 0.25, 0.25], bias: nil, inputs: 4, outputs: 1))
    let energies = try run([mean], segments: false).firstOutputs.sorted()
    let median = energies[energies.count / 2]
    let speech = Layer.linear(
      try Linear(weight: [0.25, 0.25, 0.25, 0.25], bias: [-median], inputs: 4, outputs: 1))
    let full = try run([speech, .activation(.sigmoid, size: 1)], segments: true)
    // Every second frame, then a centred identity convolution (a lookahead of one subsampled frame,
    // two input frames): the same values at the even frames, the end flushed.
    let identity = Layer.conv1d(
      try CausalConv1d(weight: [0, 1, 0], bias: nil, inputs: 1, outputs: 1, kernel: 3, centred: true))
    let half = try run(
      [speech, .subsample(every: 2, size: 1), identity, .activation(.sigmoid, size: 1)], segments: true)
    let frameCount = full.indices.count
    #expect(frameCount > 100 && full.indices == Array(0..<frameCount))
    #expect(half.indices == Array(stride(from: 0, to: frameCount, by: 2)))
    #expect(half.times == half.indices.map { Double($0) * 0.01 })
    let evenOutputs = stride(from: 0, to: frameCount, by: 2).map { full.firstOutputs[$0] }
    #expect(zip(half.firstOutputs, evenOutputs).allSatisfy { abs($0 - $1) <= 1e-6 })
    #expect(half.description?.hopLength == 320 && full.description?.hopLength == 160)
    // Segments: in samples of the stream, each within two hops of a full-rate one (the subsampled
    // detector decides on every second frame, so a blip of one odd frame may be missing). Were
    // the records' spacing taken for one hop, every boundary would sit at half its time.
    func segments(_ sink: RecordingEventSink) -> [(Int, Int)] {
      sink.events.compactMap { if case .speechSegment(let s, let e) = $0 { (s, e) } else { nil } }
    }
    let expected = segments(full)
    let actual = segments(half)
    let matched = actual.filter { a in
      expected.contains { b in abs(a.0 - b.0) <= 320 && abs(a.1 - b.1) <= 320 }
    }
    #expect(actual.count >= 3 && matched.count == actual.count, "\(actual) vs \(expected)")
  }

  @Test func flushedFramesAreCheckedForNonFiniteValuesToo() throws {
    // A centred convolution whose output overflows on every frame, the flushed last one included.
    let overflowing = Layer.conv1d(
      try CausalConv1d(weight: [0, 0, 1], bias: [3e38], inputs: 1, outputs: 1, kernel: 3, centred: true))
    let chain = try LayerChain(
      layers: [
        .linear(try Linear(weight: [0.25, 0.25, 0.25, 0.25], bias: nil, inputs: 4, outputs: 1)), overflowing,
        .affine(scale: [10], shift: [0]),
      ])
    var configuration = LogMelConfiguration()
    configuration.nMels = 4
    let sink = RecordingEventSink()
    let runner = try StreamRunner(model: chain, features: .logmel(configuration), sink: sink)
    let report = try runner.run(source: try ReplaySource(path: speech, sampleRate: 16000, pace: .max))
    #expect(sink.indices.count == report.frames && report.frames > 100)
    #expect(report.nonFiniteFrames == report.frames)
  }
}
