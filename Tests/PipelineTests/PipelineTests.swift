import AllocationCounter
import AudioFile
import Features
import Foundation
import ModelIO
import Pipeline
import Recurrent
import Replay
import StreamCore
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
  .standardized.path
let speech = root + "/Tests/Golden/features/audio/speech_16k_s16.wav"
let stereo = root + "/Tests/Golden/features/audio/stereo_44k1_s24.wav"
let demoModel = root + "/Examples/demo/gru2x64-head2.safetensors"

/// Collects records in memory.
final class MemorySink: FrameSink {
  var outputs: [Float] = []
  var indices: [Int] = []
  var discontinuities = 0
  func write(_ record: FrameRecord) throws {
    outputs.append(contentsOf: record.outputs)
    indices.append(record.index)
    if record.discontinuity { discontinuities += 1 }
  }
  func finish() throws {}
}

/// The offline result: all frames of the file, then every step, then the head activation.
func offlineOutputs(model: RecurrentModel, features: FeatureConfiguration, path: String) throws -> [Float] {
  let extractor = try features.makeExtractor()
  let stream = try MonoAudioStream(path: path, outputRate: features.sampleRate)
  var frames: [Float] = []
  try stream.forEachBlock { block in extractor.push(block) { frames.append(contentsOf: $0) } }
  extractor.finish { frames.append(contentsOf: $0) }
  var state = model.makeState()
  var outputs = model.run(sequence: frames, frameCount: frames.count / model.inputSize, state: &state)
  outputs.withUnsafeMutableBufferPointer { all in
    for start in stride(from: 0, to: all.count, by: model.outputSize) {
      model.applyHeadActivation(UnsafeMutableBufferPointer(rebasing: all[start..<(start + model.outputSize)]))
    }
  }
  return outputs
}

func replay(
  model: RecurrentModel, features: FeatureConfiguration, path: String, pace: ReplayPace,
  ringCapacity: Int = 256
)
  throws -> (MemorySink, StreamReport)
{
  let sink = MemorySink()
  var options = StreamOptions()
  options.ringCapacity = ringCapacity
  let runner = try StreamRunner(model: model, features: features, sink: sink, options: options)
  let report = try runner.run(
    source: try ReplaySource(path: path, sampleRate: features.sampleRate, pace: pace))
  return (sink, report)
}

@Suite("The stream")
struct PipelineTests {
  @Test(
    "Replay at max pace equals the offline result, bit for bit",
    arguments: ["logmel", "logmel center", "fbank"], [speech, stereo])
  func replayEqualsOffline(kind: String, path: String) throws {
    let model = try ModelLoader.load(path: demoModel)
    var centered = LogMelConfiguration()
    centered.center = true
    let features: FeatureConfiguration =
      switch kind {
      case "fbank": .fbank(FbankConfiguration())
      case "logmel center": .logmel(centered)
      default: .logmel(LogMelConfiguration())
      }
    let expected = try offlineOutputs(model: model, features: features, path: path)
    // A tiny ring forces the producer to wait for room many times: still nothing dropped.
    let (sink, report) = try replay(model: model, features: features, path: path, pace: .max, ringCapacity: 4)
    #expect(report.dropped == 0 && report.discontinuities == 0)
    #expect(report.frames == expected.count / model.outputSize && report.frames > 50)
    #expect(sink.outputs == expected)
    #expect(sink.indices == Array(0..<report.frames))
  }

  @Test func pacedReplayTakesRealTime() throws {
    let model = try ModelLoader.load(path: demoModel)
    let start = Date()
    let (_, report) = try replay(
      model: model, features: .logmel(LogMelConfiguration()), path: stereo, pace: .realtime)
    let elapsed = Date().timeIntervalSince(start)
    #expect(report.dropped == 0)
    #expect(abs(report.audioSeconds - 1.0) < 0.01)
    #expect(elapsed > 0.9 && elapsed < 1.5, "1 s of audio took \(elapsed) s")
  }

  @Test func aFullRingDropsCountsAndFlags() throws {
    // No consumer: a 4-slot ring fills, the rest is dropped and counted, and the first frame
    // pushed after a drop carries the discontinuity flag.
    let counters = StreamCounters()
    let ring = FrameRing(capacity: 4, frameSize: 40)
    let producer = FrameProducer(
      extractor: try LogMelExtractor(configuration: LogMelConfiguration()), ring: ring.producer,
      counters: counters, control: StreamControl(), overflow: .dropAndCount)
    let samples = [Float](repeating: 0.1, count: 160 * 20)
    samples.withUnsafeBufferPointer { producer.push($0, captureTime: 1, discontinuity: false) }
    let made = 1 + (samples.count - 512) / 160
    #expect(counters.pushed.load(ordering: .relaxed) == 4)
    #expect(counters.dropped.load(ordering: .relaxed) == made - 4)
    var seen: [FrameInfo] = []
    while ring.consumer.pop({ _, info in seen.append(info) }) {}
    #expect(seen.map(\.index) == [0, 1, 2, 3] && seen.allSatisfy { !$0.discontinuity })
    samples.withUnsafeBufferPointer {
      producer.push(UnsafeBufferPointer(rebasing: $0[0..<160]), captureTime: 2, discontinuity: false)
    }
    var after: FrameInfo?
    #expect(ring.consumer.pop { _, info in after = info })
    #expect(after?.index == made && after?.discontinuity == true)
  }

  @Test func producerAndConsumerPathsAllocateNothing() throws {
    let model = try ModelLoader.load(path: demoModel)
    let counters = StreamCounters()
    let ring = FrameRing(capacity: 1024, frameSize: 40)
    let producer = FrameProducer(
      extractor: try LogMelExtractor(configuration: LogMelConfiguration()), ring: ring.producer,
      counters: counters, control: StreamControl(), overflow: .dropAndCount)
    let samples = [Float](repeating: 0.05, count: 160)
    var state = try model.makeStepState()
    var output = [Float](repeating: 0, count: model.outputSize)
    var recorder = LatencyRecorder()
    let allocations = samples.withUnsafeBufferPointer { block in
      output.withUnsafeMutableBufferPointer { output in
        func consume() {
          while ring.consumer.pop({ frame, info in
            model.step(frame, state: &state, output: output)
            model.applyHeadActivation(output)
            recorder.record(monotonicNow() &- info.pushTime)
          }) {}
        }
        for _ in 0..<10 { producer.push(block, captureTime: monotonicNow(), discontinuity: false) }
        consume()
        allocation_counter_start()
        for _ in 0..<2000 {
          producer.push(block, captureTime: monotonicNow(), discontinuity: false)
          consume()
        }
        return allocation_counter_stop()
      }
    }
    #expect(allocations == 0)
    #expect(recorder.count > 1900)
  }
}

@Suite("A session's latency distribution")
struct SessionLatencyTests {
  /// 1…100,000 µs, each once: every percentile and the largest value within 1 % of the exact one,
  /// the mean exact; recording allocates nothing; values over 100 s are clamped and counted.
  @Test func percentilesWithinOnePercentWithoutAllocating() {
    var recorder = SessionLatencyRecorder()
    allocation_counter_start()
    for microseconds in 1...100_000 { recorder.record(UInt64(microseconds) * 1000) }
    let allocations = allocation_counter_stop()
    #expect(allocations == 0)
    let summary = recorder.summary
    #expect(summary.count == 100_000)
    for (value, exact) in [
      (summary.p50, 50_000.0), (summary.p90, 90_000), (summary.p99, 99_000), (summary.max, 100_000),
    ] {
      #expect(abs(value - exact) <= 0.01 * exact, "\(value) µs for \(exact) µs")
    }
    #expect(abs(summary.mean - 50_000.5) < 1e-6)
    recorder.record(500_000_000_000)
    #expect(recorder.count == 100_001)
    #expect(recorder.summary.max <= 100_000_000 * 1.01)
    #expect(SessionLatencyRecorder().summary.count == 0)
  }

  /// The first value recorded into a fresh recorder (of either kind) allocates nothing.
  @Test func theFirstRecordDoesNotAllocate() {
    var session = SessionLatencyRecorder()
    var stream = LatencyRecorder()
    allocation_counter_start()
    session.record(1234)
    stream.record(1234)
    let allocations = allocation_counter_stop()
    #expect(allocations == 0)
    #expect(session.count == 1 && stream.count == 1)
  }
}

@Suite("Text output without Foundation")
struct TextOutputTests {
  @Test func formattedMatchesPrintf() {
    #expect(formatted("%9.1f|%.2f|%d|%g", 3.14159, 2.0, 42, 0.5) == "      3.1|2.00|42|0.5")
    // Longer than the first 256-byte buffer: formatted again at the right size, not cut.
    let long = formatted("%300.1f", 1.0)
    #expect(long.count == 300 && long.hasSuffix("1.0"))
  }

  @Test func paddingKeepsLongText() {
    #expect(padded("ab", to: 4) == "ab  ")
    #expect(padded("abcdef", to: 4) == "abcdef")
  }
}
