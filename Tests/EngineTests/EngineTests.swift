import AllocationCounter
import AudioFile
import BundledModels
import Engine
import Features
import Foundation
import Layers
import ModelIO
import Pipeline
import Replay
import StreamCore
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
  .standardized.path
let sileroSpeech = root + "/Tests/Golden/silero/speech_noise.wav"
let demoSpeech = root + "/Examples/demo/speech.wav"

/// Keeps every record's number and outputs, and every event.
final class Recorder: EventSink {
  var indices: [Int] = []
  var outputs: [[Float]] = []
  var events: [StreamEvent] = []
  var finished = false
  func write(_ record: FrameRecord) throws {
    indices.append(record.index)
    outputs.append(Array(record.outputs))
  }
  func write(_ event: StreamEvent) throws { events.append(event) }
  func finish() throws { finished = true }
}

/// A single stream's records of `path` (the runner at full speed): what every session must equal.
func solo(_ path: String, _ vad: BundledModel, segments: Bool) throws -> Recorder {
  let recorder = Recorder()
  let runner = try StreamRunner(
    model: vad.model, features: vad.features, sink: recorder, observers: segments ? [SegmentObserver()] : [])
  _ = try runner.run(source: try ReplaySource(path: path, sampleRate: 16000, pace: .max))
  return recorder
}

func samples(_ path: String) throws -> [Float] {
  try MonoAudioStream(path: path, outputRate: 16000).readAll()
}

/// SplitMix64, for reproducible block sizes.
struct Random {
  var state: UInt64
  mutating func next(_ bound: Int) -> Int {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Int((z ^ (z >> 31)) % UInt64(bound))
  }
}

/// Pushes every sample of `audio` into `handle` in blocks of 1…`largest`, retrying a full queue.
func feed(
  _ engine: StreamEngine, _ handle: SessionHandle, _ audio: [Float], from start: Int, to end: Int,
  random: inout Random, largest: Int
) throws -> Int {
  var position = start
  while position < end {
    let count = min(end - position, 1 + random.next(largest))
    let result = try audio.withUnsafeBufferPointer {
      try engine.tryPush(handle, UnsafeBufferPointer(rebasing: $0[position..<(position + count)]))
    }
    if result == .pushed { position += count } else { usleep(200) }
  }
  return position
}

/// A started engine whose one worker the test steps itself (``StreamEngine/workerPass(_:)``), with
/// `sessions` sessions open.
func manualEngine(_ model: LayerChain, _ features: FeatureConfiguration, sessions: Int) throws -> (
  StreamEngine, [SessionHandle]
) {
  var options = EngineOptions()
  options.threads = 1
  options.maxSessions = sessions
  options.queueSamples = 4096
  options.manualWorkers = true
  let engine = try StreamEngine(model: model, features: features, options: options)
  try engine.start()
  return (engine, try (0..<sessions).map { _ in try engine.open() })
}

/// One hop of `audio` to every session: session `i` gets chunk `chunk` of its own place in it.
func pushRound(_ engine: StreamEngine, _ handles: [SessionHandle], _ audio: [Float], chunk: Int, hop: Int)
  throws
{
  for (index, handle) in handles.enumerated() {
    let start = (chunk * hop + index * 37) % (audio.count - hop)
    _ = try audio.withUnsafeBufferPointer {
      try engine.push(handle, UnsafeBufferPointer(rebasing: $0[start..<(start + hop)]))
    }
  }
}

@Suite("The multi-stream engine", .serialized)
struct EngineTests {
  let vad: BundledModel
  init() throws { vad = try BundledModels.sileroVAD() }

  func chain() throws -> LayerChain {
    try LayerChain(
      layers: [.recurrent(vad.model)], headActivation: vad.model.head?.activation ?? .none,
      labels: vad.model.head?.labels, kernel: vad.model.kernel)
  }

  @Test func interleavedSessionsEqualSoloStreams() throws {
    let files = [sileroSpeech, demoSpeech, sileroSpeech]
    let expected = try files.map { try solo($0, vad, segments: true) }
    var options = EngineOptions()
    options.threads = 2
    options.maxSessions = 8
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let recorders = files.map { _ in Recorder() }
    let handles = try recorders.map {
      try engine.open(delivery: SessionDelivery(observers: [SegmentObserver()], sink: $0))
    }
    let audio = try files.map(samples)
    var positions = [0, 0, 0]
    var random = Random(state: 42)
    // Round-robin, random block sizes, until every file is in.
    while zip(positions, audio).contains(where: { $0 < $1.count }) {
      for index in 0..<3 where positions[index] < audio[index].count {
        let end = min(audio[index].count, positions[index] + 1 + random.next(3000))
        positions[index] = try feed(
          engine, handles[index], audio[index], from: positions[index], to: end, random: &random, largest: 700
        )
      }
    }
    for handle in handles { try engine.close(handle) }
    for handle in handles { engine.waitUntilClosed(handle) }
    for index in 0..<3 {
      #expect(recorders[index].finished)
      #expect(recorders[index].indices == expected[index].indices, "session \(index)")
      #expect(recorders[index].outputs == expected[index].outputs, "session \(index): outputs differ")
      #expect(recorders[index].events == expected[index].events, "session \(index): events differ")
      let summary = try #require(engine.summary(handles[index]))
      #expect(
        summary.droppedSamples == 0 && summary.droppedRecords == 0 && summary.samples == audio[index].count)
    }
    #expect(expected[0].events.count >= 2)
    #expect(engine.openSessions.load(ordering: .relaxed) == 0)
  }

  @Test func resetAndCloseOfOneSessionLeaveTheOthersAlone() throws {
    let expected = try solo(sileroSpeech, vad, segments: false)
    var options = EngineOptions()
    options.threads = 1
    options.maxSessions = 4
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let audio = try samples(sileroSpeech)
    let kept = Recorder()
    let reset = Recorder()
    let closed = Recorder()
    let fresh = Recorder()
    let keptHandle = try engine.open(delivery: SessionDelivery(sink: kept))
    let resetHandle = try engine.open(delivery: SessionDelivery(sink: reset))
    let closedHandle = try engine.open(delivery: SessionDelivery(sink: closed))
    let freshHandle = try engine.open(delivery: SessionDelivery(sink: fresh))
    var random = Random(state: 7)
    let half = audio.count / 2 / 512 * 512
    for handle in [keptHandle, resetHandle, closedHandle] {
      _ = try feed(engine, handle, audio, from: 0, to: half, random: &random, largest: 512)
    }
    // A new stream of the second half only: what the reset session must give after the reset.
    _ = try feed(engine, freshHandle, audio, from: half, to: audio.count, random: &random, largest: 512)
    try engine.close(freshHandle)
    try engine.close(closedHandle)
    engine.waitUntilClosed(closedHandle)
    // The reset lands on a frame boundary (the half is a whole number of Silero chunks) once the
    // first half has been stepped.
    while engine.summary(closedHandle) == nil || kept.indices.count < half / 512 { usleep(1000) }
    while reset.indices.count < half / 512 { usleep(1000) }
    try engine.reset(resetHandle)
    for handle in [keptHandle, resetHandle] {
      _ = try feed(engine, handle, audio, from: half, to: audio.count, random: &random, largest: 512)
      try engine.close(handle)
    }
    engine.waitUntilClosed(keptHandle)
    engine.waitUntilClosed(resetHandle)
    #expect(kept.outputs == expected.outputs)
    #expect(closed.finished && closed.outputs == Array(expected.outputs.prefix(closed.outputs.count)))
    #expect(closed.outputs.count >= half / 512)
    #expect(throws: EngineError.unknownSession) { try engine.reset(closedHandle) }
    // The reset session equals the solo stream up to the reset; from there, a new stream of the
    // rest: the recurrent state and the frontend's context samples were both zeroed.
    let cut = half / 512
    #expect(Array(reset.outputs.prefix(cut)) == Array(expected.outputs.prefix(cut)))
    #expect(reset.outputs.count == expected.outputs.count && reset.outputs != expected.outputs)
    engine.waitUntilClosed(freshHandle)
    #expect(fresh.outputs.count == reset.outputs.count - cut)
    #expect(Array(reset.outputs.dropFirst(cut)) == fresh.outputs)
  }

  @Test func aResetFallsOnTheFrameBoundaryAfterThePushedAudioAndEndsTheOpenSegment() throws {
    let expected = try solo(demoSpeech, vad, segments: true)
    var options = EngineOptions()
    options.threads = 1
    options.maxSessions = 2
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let audio = try samples(demoSpeech)
    let recorder = Recorder()
    let handle = try engine.open(delivery: SessionDelivery(observers: [SegmentObserver()], sink: recorder))
    // Find a moment inside a segment; the reset is asked for at once, whatever the worker has
    // stepped: it lands where the frame being assembled ends.
    let (start, end) = try #require(
      expected.events.lazy.compactMap { event -> (Int, Int)? in
        if case .speechSegment(let start, let end) = event, end - start > 8000 { return (start, end) }
        return nil
      }.first)
    let cut = (start + end) / 2 + 100
    var random = Random(state: 11)
    _ = try feed(engine, handle, audio, from: 0, to: cut, random: &random, largest: 3000)
    try engine.reset(handle)
    _ = try feed(engine, handle, audio, from: cut, to: audio.count, random: &random, largest: 3000)
    try engine.close(handle)
    engine.waitUntilClosed(handle)
    let boundary = (cut + 511) / 512
    #expect(Array(recorder.outputs.prefix(boundary)) == Array(expected.outputs.prefix(boundary)))
    #expect(recorder.outputs[boundary] != expected.outputs[boundary], "the state restarted at the boundary")
    #expect(recorder.outputs.count == expected.outputs.count, "frame numbering goes on")
    #expect(recorder.events.contains(.speechSegment(start: start, end: boundary * 512)))
  }

  @Test func aFullQueueDropsTheBlockAndCountsIt() throws {
    var options = EngineOptions()
    options.threads = 1
    options.maxSessions = 2
    options.queueSamples = 1024
    options.manualWorkers = true
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let handle = try engine.open()
    let block = [Float](repeating: 0.01, count: 600)
    let first = try block.withUnsafeBufferPointer { try engine.push(handle, $0) }
    let second = try block.withUnsafeBufferPointer { try engine.push(handle, $0) }
    #expect(first == .pushed && second == .full)
    #expect(engine.droppedSamples.load(ordering: .relaxed) == 600)
    #expect(try block.withUnsafeBufferPointer { try engine.tryPush(handle, $0) } == .full)
    #expect(engine.droppedSamples.load(ordering: .relaxed) == 600, "tryPush does not count")
    while engine.workerPass(0) {}
    try engine.close(handle)
    while engine.workerPass(0) {}
    engine.waitUntilClosed(handle)
    let summary = try #require(engine.summary(handle))
    // One whole 512-sample chunk, then the rest zero-padded at the close (as a single stream ends).
    #expect(summary.droppedSamples == 600 && summary.samples == 600 && summary.frames == 2)
  }

  @Test func tooManySessionsIsATypedRefusal() throws {
    var options = EngineOptions()
    options.threads = 2
    options.maxSessions = 3
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let handles = try (0..<3).map { _ in try engine.open() }
    #expect(throws: EngineError.tooManySessions(3)) { try engine.open() }
    try engine.close(handles[1])
    engine.waitUntilClosed(handles[1])
    let again = try engine.open(id: "again")
    #expect(again.slot == handles[1].slot && again != handles[1] && again.id == "again")
    #expect(throws: EngineError.unknownSession) { try engine.close(handles[1]) }
  }

  @Test func batchedSessionsEqualSoloStreamsWithFullAndRaggedBatches() throws {
    let files = [sileroSpeech, demoSpeech]
    let expected = try files.map { try solo($0, vad, segments: true) }
    let audio = try files.map(samples)
    var options = EngineOptions()
    options.threads = 1
    options.maxSessions = 20
    options.maxBatch = 8
    options.manualWorkers = true
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let recorders = (0..<20).map { _ in Recorder() }
    let handles = try recorders.map {
      try engine.open(delivery: SessionDelivery(observers: [SegmentObserver()], sink: $0))
    }
    /// Passes until the worker has found nothing to do a few times in a row (the delivery thread
    /// drains the output queues meanwhile).
    func settle() {
      var idle = 0
      while idle < 3 {
        if engine.workerPass(0) {
          idle = 0
        } else {
          idle += 1
          usleep(2000)
        }
      }
    }
    var positions = [Int](repeating: 0, count: 20)
    var round = 0
    // Every session gets a different block size (so sessions fall in and out of batches), and
    // some rounds skip odd sessions.
    while (0..<20).contains(where: { positions[$0] < audio[$0 % 2].count }) {
      for index in 0..<20 where positions[index] < audio[index % 2].count {
        if round % 3 == 1 && index % 2 == 1 { continue }
        let samples = audio[index % 2]
        let end = min(samples.count, positions[index] + 700 + 131 * index)
        _ = try samples.withUnsafeBufferPointer {
          try engine.push(handles[index], UnsafeBufferPointer(rebasing: $0[positions[index]..<end]))
        }
        positions[index] = end
      }
      settle()
      round += 1
    }
    for handle in handles { try engine.close(handle) }
    settle()
    for handle in handles { engine.waitUntilClosed(handle) }
    for index in 0..<20 {
      let reference = expected[index % 2]
      #expect(recorders[index].indices == reference.indices, "session \(index)")
      #expect(recorders[index].outputs == reference.outputs, "session \(index): outputs differ")
      #expect(recorders[index].events == reference.events, "session \(index): events differ")
      #expect(engine.summary(handles[index])?.droppedSamples == 0)
    }
    let statistics = engine.batchStatistics
    #expect(statistics.largest == 8, "batches of up to 8: \(statistics)")
    #expect(statistics.meanSize > 2 && statistics.single > 0, "full and ragged batches: \(statistics)")
  }

  @Test func theWorkerPathAllocatesNothingWithAThousandSessionsOpen() throws {
    let (engine, handles) = try manualEngine(try chain(), vad.features, sessions: 1000)
    defer { engine.stop() }
    let audio = try samples(sileroSpeech)
    func round(_ chunk: Int) throws { try pushRound(engine, handles, audio, chunk: chunk, hop: 512) }
    // Warm-up: the first frames set up runtime metadata.
    for chunk in 0..<2 {
      try round(chunk)
      while engine.workerPass(0) {}
    }
    try round(2)
    allocation_counter_start()
    var passes = 0
    while engine.workerPass(0) { passes += 1 }
    let counted = allocation_counter_stop()
    #expect(passes >= 1)
    #expect(counted == 0, "\(counted) allocations stepping 1,000 sessions")
    #expect(engine.batchStatistics.largest == engine.options.maxBatch, "the sessions stepped in full batches")
    usleep(50_000)
    #expect(engine.deliveredRecords.load(ordering: .relaxed) == 3000)
  }

  @Test func aPassVisitsOnlyTheSessionsThatGotWork() throws {
    let (engine, handles) = try manualEngine(try chain(), vad.features, sessions: 1000)
    defer { engine.stop() }
    let block = [Float](repeating: 0.01, count: 512)
    while engine.workerPass(0) {}
    let before = engine.workerVisits(0)
    for index in [3, 500, 999] {
      _ = try block.withUnsafeBufferPointer { try engine.push(handles[index], $0) }
    }
    var passes = 0
    while engine.workerPass(0) { passes += 1 }
    #expect(passes == 1)
    #expect(engine.workerVisits(0) - before == 3, "only the three sessions that were pushed to")
    // Two chunks at once: the session is visited again in the next pass for its second one.
    let two = [Float](repeating: 0.01, count: 1024)
    _ = try two.withUnsafeBufferPointer { try engine.push(handles[7], $0) }
    let visited = engine.workerVisits(0)
    while engine.workerPass(0) {}
    #expect(engine.workerVisits(0) - visited == 2, "two passes with a chunk each")
    usleep(50_000)
    #expect(engine.deliveredRecords.load(ordering: .relaxed) == 5)
  }

  @Test func aSessionHeldBackByAFullRecordQueueGoesOnOnceTheQueueDrains() throws {
    /// A sink that holds the delivery thread until it is let go.
    final class HeldSink: FrameSink, @unchecked Sendable {
      let gate = DispatchSemaphore(value: 0)
      var frames = 0
      func write(_ record: FrameRecord) throws {
        if frames == 0 { gate.wait() }
        frames += 1
      }
      func finish() throws {}
    }
    var options = EngineOptions()
    options.threads = 1
    options.maxSessions = 2
    options.queueSamples = 65_536
    options.outputFrames = 16
    let engine = try StreamEngine(model: try chain(), features: vad.features, options: options)
    try engine.start()
    defer { engine.stop() }
    let sink = HeldSink()
    let handle = try engine.open(delivery: SessionDelivery(sink: sink))
    // 60 chunks in one push: the worker fills the 16-record queue and stops.
    let audio = [Float](repeating: 0.01, count: 60 * 512)
    #expect(try audio.withUnsafeBufferPointer { try engine.push(handle, $0) } == .pushed)
    usleep(200_000)
    #expect(engine.queuedSamples > 30 * 512, "the worker stopped at the full queue")
    // Let the delivery go: nothing is pushed any more, so only the delivery thread's mark (the
    // queue has room again) brings the worker back to the session.
    sink.gate.signal()
    var waited = 0
    while engine.deliveredRecords.load(ordering: .relaxed) < 60 && waited < 500 {
      usleep(10_000)
      waited += 1
    }
    #expect(engine.deliveredRecords.load(ordering: .relaxed) == 60)
    #expect(engine.queuedSamples == 0)
    try engine.close(handle)
    engine.waitUntilClosed(handle)
  }

  @Test func logMelSessionsBatchTheirFFTsWithoutAllocating() throws {
    let loaded = try ModelLoader.loadChain(path: root + "/Examples/demo/gru2x64-head2.safetensors")
    let features = try #require(loaded.features)
    let (engine, handles) = try manualEngine(loaded.chain, features, sessions: 300)
    defer { engine.stop() }
    let audio = try samples(demoSpeech)
    func round(_ chunk: Int) throws {
      try pushRound(engine, handles, audio, chunk: chunk, hop: features.hopLength)
    }
    // Warm-up: the first frames need a whole 512-sample window (4 hops).
    for chunk in 0..<5 {
      try round(chunk)
      while engine.workerPass(0) {}
    }
    let before = engine.batchStatistics
    try round(5)
    allocation_counter_start()
    var passes = 0
    while engine.workerPass(0) { passes += 1 }
    let counted = allocation_counter_stop()
    #expect(passes >= 1)
    #expect(counted == 0, "\(counted) allocations stepping 300 log-mel sessions")
    let after = engine.batchStatistics
    #expect(after.frames - before.frames == 300, "one frame per session")
    #expect(after.largest == engine.options.maxBatch)
    usleep(50_000)
    #expect(engine.deliveredRecords.load(ordering: .relaxed) == 300 * 3)
  }
}
