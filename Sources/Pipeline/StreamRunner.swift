import Features
import Layers
import ModelIO
import Recurrent
import StreamCore
import Synchronization

/// Options of a running stream. Segments, state resets and progress are observers
/// (``StreamObserver``), not options.
public struct StreamOptions: Sendable {
  /// Ring slots: a power of two in ``ringCapacityRange``. Default 256 (2.56 s of 10 ms frames).
  public var ringCapacity = 256
  /// Hand one record in `every` to the sink (observers see every frame). At least 1.
  public var every = 1
  /// Hand no records to the sink (events and statistics only).
  public var quiet = false
  /// Stop after this much audio, seconds (positive and finite; nil: until the source ends).
  public var duration: Double?
  /// Whether records carry their step and capture-to-output times; false writes them as null, so
  /// that two runs over the same audio give byte-identical records (`--no-timings`).
  public var timings = true

  /// The allowed ring capacities: 2 to 2^20 frames (above that a ring of 80-float frames would
  /// need 320 MiB allocated before the first frame).
  public static let ringCapacityRange = 2...(1 << 20)

  /// The defaults.
  public init() {}

  /// Checks every option's range. Thread: any; allocates only for an error.
  public func validate() throws(StreamError) {
    guard Self.ringCapacityRange.contains(ringCapacity), ringCapacity & (ringCapacity - 1) == 0 else {
      throw .invalidOption(
        name: "ring capacity", value: "\(ringCapacity)",
        allowed: "a power of two from 2 to \(Self.ringCapacityRange.upperBound)")
    }
    guard every >= 1 else {
      throw .invalidOption(name: "every", value: "\(every)", allowed: "at least 1")
    }
    if let duration, !(duration > 0 && duration.isFinite) {
      throw .invalidOption(name: "duration", value: "\(duration)", allowed: "positive seconds")
    }
  }
}

/// What a stream reports when it ends.
public struct StreamReport: Sendable {
  /// Frames the consumer stepped.
  public var frames: Int
  /// Frames dropped because the ring was full.
  public var dropped: Int
  /// Capture overruns recovered from.
  public var xruns: Int
  /// Frames marked as following a gap.
  public var discontinuities: Int
  /// Audio fed to the features, seconds.
  public var audioSeconds: Double
  /// Features + steps, seconds of CPU on the two threads.
  public var computeSeconds: Double
  /// Step compute time.
  public var step: LatencySummary
  /// Compute per frame on both threads: its features (the extractor's time for it) + its step.
  public var compute: LatencySummary
  /// Push → pop.
  public var queueWait: LatencySummary
  /// Last sample captured → record handed to the sink.
  public var captureToOutput: LatencySummary
  /// Why the stream stopped early, if it did: the source's error, typed (an `ALSAError` for a
  /// device that went away).
  public var sourceError: (any Error)?
  /// Frames before which the recurrent state was reset (an observer asked, e.g.
  /// ``SilenceResetPolicy``).
  public var resetFrames: [Int] = []
  /// The source's notices (``FrameSource/notices``).
  public var notices: [String] = []
  /// Frames whose outputs held a NaN or an infinity (the model overflowed). Sinks write such
  /// values as null; the CLI warns once.
  public var nonFiniteFrames = 0
  /// Device suspends resumed from.
  public var suspends = 0
  /// Windows in which the source's audio ran much faster or slower than the monotonic clock.
  public var clockSuspectWindows = 0
  /// Audio lost to overruns and suspends, seconds (``StreamCounters/lostSamples``).
  public var lostSeconds = 0.0
  /// The distributions of ``step``, ``compute`` and ``captureToOutput`` on a log axis (10 bins per
  /// decade), for pictures.
  public var stepBins: [LatencyBin] = []
  /// See ``stepBins``.
  public var computeBins: [LatencyBin] = []
  /// See ``stepBins``.
  public var captureToOutputBins: [LatencyBin] = []

  /// ``sourceError`` as one line.
  public var error: String? { sourceError.map { "\($0)" } }

  /// Audio seconds per compute second.
  public var realTimeFactor: Double { computeSeconds > 0 ? audioSeconds / computeSeconds : 0 }

  /// The statistics as a readable table: counters, x real-time, latency percentiles.
  public var statistics: String {
    func row(_ name: String, _ s: LatencySummary) -> String {
      func f(_ v: Double) -> String { formatted("%9.1f", v) }
      return padded(name, to: 22)
        + "\(f(s.p50)) \(f(s.p90)) \(f(s.p99)) \(f(s.p999)) \(f(s.max)) \(f(s.mean))  \(s.count)"
    }
    return """
      frames \(frames), dropped \(dropped), xruns \(xruns), suspends \(suspends), discontinuities \(discontinuities), \
      lost \(formatted("%.3f", lostSeconds)) s
      audio \(formatted("%.2f", audioSeconds)) s, compute \(formatted("%.4f", computeSeconds)) s, \
      \(formatted("%.0f", realTimeFactor)) x real-time
      latency (µs)                p50       p90       p99     p99.9       max      mean  count
      \(row("step", step))
      \(row("features + step", compute))
      \(row("queue wait", queueWait))
      \(row("capture to output", captureToOutput))
      """
  }

  /// ``statistics`` and one line for each problem: a doubtful device clock, non-finite outputs,
  /// an early stop.
  public var table: String {
    statistics
      + (clockSuspectWindows > 0
        ? "\nthe device's audio ran much faster or slower than real time in \(clockSuspectWindows) 2-s windows"
        : "")
      + (nonFiniteFrames > 0 ? "\nnon-finite outputs (NaN or infinity) in \(nonFiniteFrames) frames" : "")
      + (error.map { "\nstopped early: \($0)" } ?? "")
  }

  /// The JSON object `--stats-json` writes.
  public var json: JSONValue {
    var object: [String: JSONValue] = [
      "frames": .number(Double(frames)), "dropped": .number(Double(dropped)), "xruns": .number(Double(xruns)),
      "discontinuities": .number(Double(discontinuities)), "audio_seconds": .number(audioSeconds),
      "compute_seconds": .number(computeSeconds), "x_real_time": .number(realTimeFactor),
      "step": step.json, "compute": compute.json, "queue_wait": queueWait.json,
      "capture_to_output": captureToOutput.json,
      "resets": .number(Double(resetFrames.count)), "suspends": .number(Double(suspends)),
      "lost_seconds": .number(lostSeconds),
      "clock_suspect_windows": .number(Double(clockSuspectWindows)),
      "non_finite_frames": .number(Double(nonFiniteFrames)),
    ]
    object["histograms"] = .object([
      "step": .array(stepBins.map(\.json)), "compute": .array(computeBins.map(\.json)),
      "capture_to_output": .array(captureToOutputBins.map(\.json)),
    ])
    object["reset_frames"] = .array(resetFrames.prefix(10_000).map { .number(Double($0)) })
    if let error { object["error"] = .string(error) }
    return .object(object)
  }
}

/// Runs one stream: a ``FrameSource`` feeds a ``FrameProducer`` (features) on a source thread of
/// its own; the calling thread (the consumer) pops frames from the lock-free ring, steps the model
/// with its state carried, hands each record to the observers and then to the sink, and records
/// latencies.
///
/// ```
/// source thread:   source → producer (features) → ring.push
/// consumer thread: ring.pop → step → head activation → observers → sink → statistics
/// ```
///
/// Everything is allocated in ``init(model:features:sink:observers:options:)`` and at the start of
/// ``run(source:)``; the consumer loop then allocates, locks and throws nothing per frame (the sink
/// and observers may do I/O: their cost shows as queue wait). One runner runs one stream at a time.
public final class StreamRunner {
  let model: LayerChain
  let features: FeatureConfiguration
  let sink: (any FrameSink)?
  let observers: [any StreamObserver]
  let audioTap: (any AudioTap)?
  let options: StreamOptions
  /// What the sink and the observers are told about the stream.
  public let description: StreamDescription
  /// Stops the stream from another thread; SIGINT/SIGTERM do the same once
  /// ``installStopSignalHandlers()`` has run.
  public let control = StreamControl()
  let counters = StreamCounters()

  /// A stream of a recurrent model with its head (a one-layer chain).
  /// - Throws: ``StreamError``; a bidirectional model cannot stream.
  public convenience init(
    model: RecurrentModel, features: FeatureConfiguration, sink: (any FrameSink)?,
    observers: [any StreamObserver] = [], audioTap: (any AudioTap)? = nil,
    options: StreamOptions = StreamOptions()
  ) throws(StreamError) {
    let chain: LayerChain
    do {
      chain = try LayerChain(
        layers: [.recurrent(model)], headActivation: model.head?.activation ?? .none,
        labels: model.head?.labels,
        kernel: model.kernel)
    } catch {
      throw .modelCannotStream(error.description)
    }
    try self.init(
      model: chain, features: features, sink: sink, observers: observers, audioTap: audioTap, options: options
    )
  }

  /// Checks that the model takes these features and that the options are in range; allocates
  /// nothing for the stream yet. A chain with a ``Layer/subsample(every:size:)`` gives records for
  /// the frames it passes only (their `frame` is the input frame's number).
  /// - Throws: ``StreamError`` (one line naming the parameter).
  /// `audioTap` sees every block of audio on the source thread before its features (a report's
  /// waveform, a meter's level).
  public init(
    model: LayerChain, features: FeatureConfiguration, sink: (any FrameSink)?,
    observers: [any StreamObserver] = [], audioTap: (any AudioTap)? = nil,
    options: StreamOptions = StreamOptions()
  ) throws(StreamError) {
    guard model.inputSize == features.featureCount else {
      throw .inputSizeMismatch(modelInputs: model.inputSize, featureCount: features.featureCount)
    }
    try options.validate()
    if sink != nil, !(sink is any EventSink), observers.contains(where: \.emitsEvents) {
      throw .sinkTakesNoEvents
    }
    self.model = model
    self.features = features
    self.sink = sink
    self.observers = observers
    self.audioTap = audioTap
    self.options = options
    // Records come every `outputInterval` input frames: observers (segments, silence resets) see
    // that spacing as the stream's hop.
    description = StreamDescription(
      sampleRate: features.sampleRate, hopLength: features.hopLength * model.outputInterval,
      outputCount: model.outputSize,
      labels: model.labels, independentProbabilities: model.headActivation == .sigmoid)
  }

  /// Runs `source` on a source thread and consumes here until the source ends and the ring is
  /// drained, or a stop is requested (then the ring is drained too). The source's error, if any,
  /// ends the stream and is kept in ``StreamReport/sourceError``; a sink's or observer's error
  /// stops the stream and is thrown.
  public func run(source: any FrameSource) throws -> StreamReport {
    guard source.sampleRate == features.sampleRate else {
      throw StreamError.sampleRateMismatch(source: source.sampleRate, features: features.sampleRate)
    }
    for observer in observers { try observer.begin(description) }
    try sink?.begin(description)
    let ring = FrameRing(capacity: options.ringCapacity, frameSize: features.featureCount)
    let producer = FrameProducer(
      extractor: try features.makeExtractor(), ring: ring.producer, counters: counters, control: control,
      overflow: source.overflow, tap: audioTap)
    let consumer = Consumer(runner: self, ring: ring.consumer)
    let sourceError = ErrorBox()
    let control = self.control
    let thread = try JoinableThread {
      do {
        try source.run(into: producer)
        if !control.isStopRequested { producer.finish() }
      } catch { sourceError.set(error) }
      control.producerFinished.store(true, ordering: .releasing)
      ring.producer.wakeConsumer()
    }
    consumer.run()
    thread.join()
    consumer.flush()
    let totalSamples = counters.samples.load(ordering: .relaxed)
    for observer in observers { observer.end(totalSamples: totalSamples) { consumer.write($0) } }
    if let failure = consumer.failure { throw failure }
    try sink?.finish()
    return consumer.report(sourceError: sourceError.value, notices: source.notices)
  }
}

/// The consumer side of one run: its state, statistics and loop. Allocated before the source
/// thread starts; consumer thread only.
private final class Consumer {
  let runner: StreamRunner
  let ring: RingConsumer
  /// The runner's observers in a buffer of their own: iterating an `Array` of existentials goes
  /// through a generic read coroutine that allocates its frame in unoptimised builds.
  let observers: UnsafeMutableBufferPointer<any StreamObserver>
  let state: LayerChainState
  /// `[outputCount]` the step's outputs after the head activation.
  let output: UnsafeMutableBufferPointer<Float>
  var stepTimes = LatencyRecorder()
  var computeTimes = LatencyRecorder()
  var queueWaits = LatencyRecorder()
  var latencies = LatencyRecorder()
  var frames = 0
  var discontinuities = 0
  var nonFiniteFrames = 0
  var resetFrames: [Int] = []
  var resetPending = false
  /// The last output's input-frame number (−`outputInterval` before the first, so that the next
  /// one is always `lastOutputIndex + outputInterval`).
  var lastOutputIndex: Int
  /// The first sink or observer error; the stream stops on it.
  var failure: (any Error)?
  let frameLimit: Int?
  /// Seconds per input frame (the features' hop over their rate): record times.
  let secondsPerInputFrame: Double

  init(runner: StreamRunner, ring: RingConsumer) {
    self.runner = runner
    self.ring = ring
    observers = .allocate(capacity: runner.observers.count)
    _ = observers.initialize(from: runner.observers)
    let model = runner.model
    state = model.makeState()
    lastOutputIndex = -model.outputInterval
    output = .allocate(capacity: model.outputSize)
    output.initialize(repeating: 0)
    let secondsPerInputFrame = Double(runner.features.hopLength) / Double(runner.features.sampleRate)
    self.secondsPerInputFrame = secondsPerInputFrame
    frameLimit = runner.options.duration.map { Int(($0 / secondsPerInputFrame).rounded(.up)) }
    resetFrames.reserveCapacity(1024)
    // Warm-up: the first call of each function may set up runtime metadata (an allocation).
    let zeros = [Float](repeating: 0, count: model.inputSize)
    zeros.withUnsafeBufferPointer { x in
      if model.step(x, state: state, output: output) { model.applyHeadActivation(output) }
    }
    state.reset()
  }

  deinit {
    output.deallocate()
    observers.deinitialize().deallocate()
  }

  /// Hands an event to the sink (if it takes events); the first error stops the stream.
  func write(_ event: StreamEvent) {
    guard let sink = runner.sink as? any EventSink, failure == nil else { return }
    do { try sink.write(event) } catch {
      failure = error
      runner.control.requestStop()
    }
  }

  func run() {
    let control = runner.control
    while true {
      while ring.pop({ frame, info in consume(frame, info) }) {
        if let frameLimit, frames >= frameLimit { control.requestStop() }
      }
      if control.producerFinished.load(ordering: .acquiring) && !ring.hasFrames { break }
      for index in 0..<observers.count {
        observers[index].idle(frames: frames, counters: runner.counters, captureToOutput: latencies)
      }
      ring.waitForFrames(timeoutNanoseconds: 50_000_000)
    }
  }

  @inline(__always)
  private func consume(_ frame: UnsafeBufferPointer<Float>, _ info: FrameInfo) {
    let popped = monotonicNow()
    queueWaits.record(popped &- info.pushTime)
    if resetPending {
      state.reset()
      resetFrames.append(info.index)
      resetPending = false
    }
    let model = runner.model
    let produced = model.step(frame, state: state, output: output)
    if produced { model.applyHeadActivation(output) }
    let stepped = monotonicNow()
    stepTimes.record(stepped &- popped)
    computeTimes.record(info.featureNanoseconds &+ (stepped &- popped))
    latencies.record(stepped &- info.captureTime)
    if info.discontinuity { discontinuities += 1 }
    frames += 1
    // A subsampling chain gives no output for some frames: nothing to observe or write.
    guard produced else { return }
    var finite = true
    for value in output where !value.isFinite { finite = false }
    if !finite { nonFiniteFrames += 1 }
    // With centred convolutions, this output belongs to a frame `lookahead` frames back.
    let index = info.index - model.lookahead
    lastOutputIndex = index
    let record = FrameRecord(
      index: index, time: Double(index) * secondsPerInputFrame,
      outputs: UnsafeBufferPointer(output),
      stepMicroseconds: runner.options.timings ? Double(stepped &- popped) / 1000 : .nan,
      latencyMicroseconds: runner.options.timings ? Double(stepped &- info.captureTime) / 1000 : .nan,
      discontinuity: info.discontinuity,
      clockSuspect: info.clockSuspect)
    deliver(record)
  }

  /// The end of the stream for a chain with lookahead: the last frames' outputs, computed with the
  /// zeros after the stream that PyTorch's padding stands for (step and latency times 0).
  func flush() {
    let model = runner.model
    guard model.lookahead > 0 else { return }
    model.finish(state: state, output: output) { values in
      model.applyHeadActivation(values)
      for value in values where !value.isFinite {
        nonFiniteFrames += 1
        break
      }
      lastOutputIndex += model.outputInterval
      deliver(
        FrameRecord(
          index: lastOutputIndex, time: Double(lastOutputIndex) * secondsPerInputFrame,
          outputs: UnsafeBufferPointer(values), stepMicroseconds: runner.options.timings ? 0 : .nan,
          latencyMicroseconds: runner.options.timings ? 0 : .nan,
          discontinuity: false))
    }
  }

  /// Hands a record to the observers, then (unless thinned) to the sink.
  private func deliver(_ record: FrameRecord) {
    for index in 0..<observers.count
    where observers[index].observe(record, emit: { self.write($0) }) == .resetState {
      resetPending = true
    }
    if let sink = runner.sink, !runner.options.quiet, failure == nil, record.index % runner.options.every == 0
    {
      do { try sink.write(record) } catch {
        failure = error
        runner.control.requestStop()
      }
    }
  }

  func report(sourceError: (any Error)?, notices: [String]) -> StreamReport {
    let counters = runner.counters
    let samples = counters.samples.load(ordering: .relaxed)
    return StreamReport(
      frames: frames, dropped: counters.dropped.load(ordering: .relaxed),
      xruns: counters.xruns.load(ordering: .relaxed), discontinuities: discontinuities,
      audioSeconds: Double(samples) / Double(runner.description.sampleRate),
      computeSeconds: Double(counters.featureNanoseconds.load(ordering: .relaxed) &+ stepTimes.total) / 1e9,
      step: stepTimes.summary, compute: computeTimes.summary, queueWait: queueWaits.summary,
      captureToOutput: latencies.summary, sourceError: sourceError, resetFrames: resetFrames,
      notices: notices,
      nonFiniteFrames: nonFiniteFrames, suspends: counters.suspends.load(ordering: .relaxed),
      clockSuspectWindows: counters.clockSuspectWindows.load(ordering: .relaxed),
      lostSeconds: Double(counters.lostSamples.load(ordering: .relaxed))
        / Double(runner.description.sampleRate), stepBins: stepTimes.bins(), computeBins: computeTimes.bins(),
      captureToOutputBins: latencies.bins())
  }
}

/// An error handed from the source thread to the consumer once (a lock is fine: not per frame).
final class ErrorBox: Sendable {
  private let error = Mutex<(any Error)?>(nil)
  func set(_ error: any Error) { self.error.withLock { $0 = error } }
  var value: (any Error)? { error.withLock { $0 } }
}
