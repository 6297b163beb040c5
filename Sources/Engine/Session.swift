import Features
import Layers
import Pipeline
import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Names an open session of a ``StreamEngine``. A handle outlives its session harmlessly: once the
/// session is closed, calls with it are refused (``EngineError/unknownSession``), even when its
/// slot has been reused.
public struct SessionHandle: Hashable, Sendable {
  /// The session's slot, 0 ..< ``EngineOptions/maxSessions``.
  public let slot: Int
  /// The slot's opening count when this session took it.
  let generation: UInt64
  /// The session itself: calls reach it through the handle, never through the (reusable) slot.
  let session: Session

  /// The session's id.
  public var id: String { session.id }

  /// Handles are equal when they name the same opening of the same slot.
  public static func == (a: SessionHandle, b: SessionHandle) -> Bool {
    a.slot == b.slot && a.generation == b.generation
  }

  /// Hashes the slot and its opening count.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(slot)
    hasher.combine(generation)
  }
}

/// What a session's consumer side does with its results, on the engine's delivery thread: its
/// observers (segments, resets) and its sink, as a single stream's runner would (same records,
/// same events, same `every`/`quiet` thinning), and its final counters.
///
/// Delivery thread only after ``StreamEngine/open(id:delivery:)``; read ``summary`` after the
/// session has ended (``StreamEngine/waitUntilClosed(_:)``).
public final class SessionDelivery: @unchecked Sendable {
  let observers: [any StreamObserver]
  let sink: (any FrameSink)?
  let every: Int
  let quiet: Bool
  let timings: Bool
  var description: StreamDescription?
  var resetRequested = false
  /// The first sink or observer error: the session is closed on it.
  public private(set) var error: (any Error)?
  /// The session's counters when it ended (nil before).
  public private(set) var summary: SessionSummary?
  private var frames = 0
  private var nonFinite = 0
  private var latencies = SessionLatencyRecorder()

  /// A delivery to `observers`, then (every `every`-th record, none when `quiet`) to `sink`;
  /// without `timings` the records' step and latency times are NaN (written as null), as
  /// ``StreamOptions/timings`` does for a single stream.
  public init(
    observers: [any StreamObserver] = [], sink: (any FrameSink)?, every: Int = 1, quiet: Bool = false,
    timings: Bool = true
  ) {
    self.observers = observers
    self.sink = sink
    self.every = max(1, every)
    self.quiet = quiet
    self.timings = timings
  }

  /// Before the first record, on the opening thread.
  func begin(_ stream: StreamDescription) throws {
    if sink != nil, !(sink is any EventSink), observers.contains(where: \.emitsEvents) {
      throw StreamError.sinkTakesNoEvents
    }
    description = stream
    for observer in observers { try observer.begin(stream) }
    try sink?.begin(stream)
  }

  private func write(_ event: StreamEvent) {
    guard error == nil, let sink = sink as? any EventSink else { return }
    do { try sink.write(event) } catch { self.error = error }
  }

  /// One record: observers, then the sink. Returns true when an observer asked for a reset.
  func deliver(_ timed: FrameRecord) -> Bool {
    var record = timed
    if !timings {
      record.stepMicroseconds = .nan
      record.latencyMicroseconds = .nan
    }
    frames += 1
    for value in record.outputs where !value.isFinite {
      nonFinite += 1
      break
    }
    if timed.latencyMicroseconds.isFinite, timed.latencyMicroseconds >= 0 {
      latencies.record(UInt64(timed.latencyMicroseconds * 1000))
    }
    if record.stateReset, let description {
      for observer in observers {
        observer.stateWasReset(atSample: record.index * description.hopLength) { write($0) }
      }
    }
    var reset = false
    for observer in observers where observer.observe(record, emit: { write($0) }) == .resetState {
      reset = true
    }
    if let sink, !quiet, error == nil, record.index % every == 0 {
      do { try sink.write(record) } catch { self.error = error }
    }
    return reset
  }

  /// The records delivered since the last call were one pass's: a batching sink may send them.
  func endBatch() {
    guard error == nil, let sink = sink as? any BatchingFrameSink else { return }
    do { try sink.endBatch() } catch { self.error = error }
  }

  /// The end of the session: pending events, then the sink is finished.
  func end(_ summary: SessionSummary) {
    var summary = summary
    summary.nonFiniteFrames = nonFinite
    summary.delivered = frames
    summary.latency = latencies.summary
    for observer in observers { observer.end(totalSamples: summary.samples) { write($0) } }
    if error == nil {
      do { try sink?.finish() } catch { self.error = error }
    }
    self.summary = summary
  }
}

/// A session's counters at its end.
public struct SessionSummary: Sendable {
  /// The session's id.
  public var id: String
  /// Samples the worker consumed (the stream's length at the features' rate).
  public var samples: Int
  /// Frames stepped.
  public var frames: Int
  /// Records delivered.
  public var delivered = 0
  /// Samples refused because the session's input queue was full.
  public var droppedSamples: Int
  /// Records lost because the session's output queue was full.
  public var droppedRecords: Int
  /// Records with a NaN or infinite output.
  public var nonFiniteFrames = 0
  /// Added latency per record (audio handed to ``StreamEngine/push(_:_:captureTime:)`` → result
  /// delivered), µs.
  public var latency: LatencySummary?
}

/// One open session: its queues, its feature extractor, its model state. Made on the opening
/// thread (every buffer allocated there), stepped by one worker, drained by the delivery thread.
final class Session: @unchecked Sendable {
  let id: String
  /// Audio in: the pushing thread → the worker.
  let input: SampleRing
  /// Records out: the worker → the delivery thread (outputs after the head activation; `info.index`
  /// the input frame the record belongs to, `featureNanoseconds` the step time).
  let output: FrameRing
  let extractor: any FeatureExtractor
  /// The extractor when it is a learned frontend whose chunks the worker computes together with
  /// other sessions' (``ConvFrontendExtractor/defersChunks`` set), else nil.
  let deferringFrontend: ConvFrontendExtractor?
  /// ``extractor`` when it is log-mel with batched FFTs: its frames wait for the worker to
  /// transform several sessions' together (``LogMelExtractor/processDeferred(_:workspace:emit:)``).
  let deferringLogMel: LogMelExtractor?

  /// Whether the extractor holds a chunk or frame that waits for the worker's batch.
  @inline(__always)
  var hasDeferredFeatures: Bool {
    if let frontend = deferringFrontend { return frontend.hasDeferredChunk }
    if let logMel = deferringLogMel { return logMel.hasDeferredFrame }
    return false
  }
  let state: LayerChainState
  let delivery: SessionDelivery?

  // Pushing thread → worker: when each pushed block ended (for latency), a small SPSC ring.
  static let markCapacity = 64
  let markEnds: UnsafeMutablePointer<Int>
  let markTimes: UnsafeMutablePointer<UInt64>
  let marksWritten = Atomic<Int>(0)
  let marksRead = Atomic<Int>(0)
  /// Samples accepted so far (pushing thread).
  var pushedSamples = 0

  /// The worker that owns the session (kept alive by the engine) and the session's position among
  /// its cells: pushes and requests mark that position ready (``Worker/markReady(_:)``).
  unowned(unsafe) let worker: Worker
  let position: Int
  /// Worker → delivery thread: the worker left work undone because the record queue was full; the
  /// delivery thread marks the session ready once it has drained the queue.
  let outputBlocked = Atomic<Bool>(false)

  // Requests from any thread.
  /// An observer's policy asked for a reset before the next frame (silent: no record says so).
  let resetRequested = Atomic<Bool>(false)
  // Pushing thread → worker: ``StreamEngine/reset(_:)`` requests, each the frame index before
  // which the state is zeroed (the record of that frame says so), a small SPSC ring.
  static let resetCapacity = 16
  let resetFrames: UnsafeMutablePointer<Int>
  let resetsWritten = Atomic<Int>(0)
  /// The extractor's hop (samples between frame starts), read once at open.
  let hopLength: Int
  /// Requests applied to the model state (before their frame is stepped).
  let resetsRead = Atomic<Int>(0)
  /// Requests applied to the extractor's context (when the audio reaches their frame's start,
  /// before the frame is made; written by the worker only).
  let contextResetsRead = Atomic<Int>(0)
  let closeRequested = Atomic<Bool>(false)
  /// Set by the worker once the session has been flushed: no call reaches it any more.
  let ended = Atomic<Bool>(false)
  /// Set by the delivery thread once the end has been delivered (the summary is ready).
  let delivered = Atomic<Bool>(false)
  /// Written by the delivery thread before ``delivered``.
  var summary: SessionSummary?
  let lastActivity = Atomic<UInt64>(0)
  let droppedSamples = Atomic<Int>(0)
  let pendingGap = Atomic<Bool>(false)

  // Worker only.
  var consumedSamples = 0
  var frameIndex = 0
  var lastOutputIndex: Int
  var droppedRecords = 0
  var captureTime: UInt64 = 0
  var gapBeforeNext = false
  /// The state was reset since the last record.
  var resetBeforeNext = false
  /// The hand-over time of the block the pending frames came from.
  var frameTime: UInt64 = 0
  /// `[pendingCapacity, featureCount]`: frames made by the extractor and not stepped yet, oldest at
  /// `pendingStart` (a ring).
  let pending: UnsafeMutablePointer<Float>
  let pendingCapacity: Int
  let featureCount: Int
  var pendingStart = 0
  var pendingCount = 0

  init(
    id: String, chain: LayerChain, features: FeatureExtractorFactory, queueSamples: Int, outputFrames: Int,
    pendingFrames: Int, worker: Worker, position: Int, delivery: SessionDelivery?
  ) throws {
    self.id = id
    self.worker = worker
    self.position = position
    let workspace = worker.workspace
    input = SampleRing(capacity: queueSamples)
    output = FrameRing(capacity: outputFrames, frameSize: chain.outputSize)
    extractor = try features.make(sharing: workspace)
    if let frontend = extractor as? ConvFrontendExtractor, let shared = workspace?.frontend, shared.chunks > 1
    {
      frontend.defersChunks = true
      deferringFrontend = frontend
    } else {
      deferringFrontend = nil
    }
    if let logMel = extractor as? LogMelExtractor, workspace?.logMel?.batches == true {
      logMel.defersFrames = true
      deferringLogMel = logMel
    } else {
      deferringLogMel = nil
    }
    hopLength = extractor.hopLength
    state = chain.makeState()
    self.delivery = delivery
    lastOutputIndex = -chain.outputInterval
    featureCount = chain.inputSize
    pendingCapacity = pendingFrames
    pending = .allocate(capacity: pendingFrames * chain.inputSize)
    pending.initialize(repeating: 0, count: pendingFrames * chain.inputSize)
    markEnds = .allocate(capacity: Self.markCapacity)
    markEnds.initialize(repeating: 0, count: Self.markCapacity)
    markTimes = .allocate(capacity: Self.markCapacity)
    markTimes.initialize(repeating: 0, count: Self.markCapacity)
    resetFrames = .allocate(capacity: Self.resetCapacity)
    resetFrames.initialize(repeating: 0, count: Self.resetCapacity)
    lastActivity.store(monotonicNow(), ordering: .relaxed)
  }

  deinit {
    pending.deallocate()
    markEnds.deallocate()
    markTimes.deallocate()
    resetFrames.deallocate()
  }

  /// Worker, before stepping frame ``frameIndex``: resets the model state if an observer asked
  /// for it since the last frame, or if a requested reset falls before this frame (the next record
  /// then says so).
  @inline(__always)
  func applyRequestedReset() {
    if resetRequested.load(ordering: .relaxed), resetRequested.exchange(false, ordering: .acquiring) {
      state.reset()
    }
    var read = resetsRead.load(ordering: .relaxed)
    let written = resetsWritten.load(ordering: .acquiring)
    guard read != written else { return }
    var due = false
    while read != written && resetFrames[read & (Self.resetCapacity - 1)] <= frameIndex {
      read &+= 1
      due = true
    }
    guard due else { return }
    resetsRead.store(read, ordering: .releasing)
    state.reset()
    resetBeforeNext = true
  }

  /// Pushing thread: zero the state before frame `frame`. A request beyond ``resetCapacity``
  /// pending ones is ignored (it falls on or after the pending frames' resets anyway).
  func requestReset(beforeFrame frame: Int) {
    let written = resetsWritten.load(ordering: .relaxed)
    let read = min(resetsRead.load(ordering: .acquiring), contextResetsRead.load(ordering: .acquiring))
    guard written &- read < Self.resetCapacity else { return }
    resetFrames[written & (Self.resetCapacity - 1)] = frame
    resetsWritten.store(written &+ 1, ordering: .releasing)
  }

  /// Worker: feeds `samples` — stream samples `start ..< start + count` — to the extractor, and
  /// zeros its context (``FeatureExtractor/resetContext()``) where a requested reset's frame starts
  /// (frame `F` at sample `F · hopLength`), so that frame and the ones after it are made as at the start
  /// of a stream; samples received before the request stay in the frame being assembled. Does not
  /// allocate or lock.
  @inline(__always)
  func pushToExtractor(
    _ samples: UnsafeBufferPointer<Float>, startingAt start: Int, emit: (UnsafeBufferPointer<Float>) -> Void
  ) {
    var offset = 0
    var read = contextResetsRead.load(ordering: .relaxed)
    let written = resetsWritten.load(ordering: .acquiring)
    while read != written {
      let (position, overflow) = resetFrames[read & (Self.resetCapacity - 1)].multipliedReportingOverflow(
        by: hopLength)
      let cut = overflow ? Int.max : position &- start
      if cut > samples.count { break }
      if cut > offset {
        extractor.push(UnsafeBufferPointer(rebasing: samples[offset..<cut]), emit: emit)
        offset = cut
      }
      extractor.resetContext()
      read &+= 1
      contextResetsRead.store(read, ordering: .releasing)
    }
    if offset < samples.count {
      extractor.push(UnsafeBufferPointer(rebasing: samples[offset..<samples.count]), emit: emit)
    }
  }

  /// Worker: the oldest pending frame (`pendingCount > 0`).
  @inline(__always)
  var oldestPending: UnsafeBufferPointer<Float> {
    UnsafeBufferPointer(start: pending + pendingStart * featureCount, count: featureCount)
  }

  /// Worker: drops the oldest pending frame.
  @inline(__always)
  func popPending() {
    pendingStart = pendingStart + 1 == pendingCapacity ? 0 : pendingStart + 1
    pendingCount -= 1
  }

  /// Worker: queues a frame (`pendingCount < pendingCapacity`).
  @inline(__always)
  func pushPending(_ frame: UnsafeBufferPointer<Float>) {
    var slot = pendingStart + pendingCount
    if slot >= pendingCapacity { slot -= pendingCapacity }
    (pending + slot * featureCount).update(from: frame.baseAddress!, count: featureCount)
    pendingCount += 1
  }

  /// Pushing thread: notes that the samples up to `end` were handed over at `time`. When the mark
  /// ring is full the mark is skipped (those samples then take the next block's time: a latency
  /// measured short, never a stall).
  func mark(end: Int, time: UInt64) {
    let written = marksWritten.load(ordering: .relaxed)
    guard written &- marksRead.load(ordering: .acquiring) < Self.markCapacity else { return }
    markEnds[written & (Self.markCapacity - 1)] = end
    markTimes[written & (Self.markCapacity - 1)] = time
    marksWritten.store(written &+ 1, ordering: .releasing)
  }

  /// Worker: the hand-over time of the block holding sample `end − 1` (the latest known if none).
  func handOverTime(upTo end: Int) -> UInt64 {
    var read = marksRead.load(ordering: .relaxed)
    let written = marksWritten.load(ordering: .acquiring)
    while read != written {
      let slot = read & (Self.markCapacity - 1)
      captureTime = markTimes[slot]
      if markEnds[slot] >= end { break }
      read &+= 1
    }
    marksRead.store(read, ordering: .releasing)
    return captureTime
  }
}
