import Features
import ModelIO
import Recurrent
import StreamCore
import Synchronization

/// Options of a running stream.
public struct StreamOptions: Sendable {
  /// Ring slots (a power of two).
  public var ringCapacity = 256
  /// Write one record in `every`.
  public var every = 1
  /// Write no records (statistics only).
  public var quiet = false
  /// Stop after this much audio, seconds.
  public var duration: Double?
  /// Show a one-line live progress display on standard error.
  public var progress = false
  /// Detect speech segments on the speech output and write them as events (nil: off).
  public var segments: SegmentParameters?
  /// Reset the recurrent state after this many seconds without speech (nil: never). Off by
  /// default so that results equal the official model's; long-running streams use it because the
  /// state's probabilities drift over hours.
  public var resetAfterSilence: Double?

  /// The defaults.
  public init() {}
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
  /// Why the stream stopped early, if it did (a device error).
  public var error: String?
  /// Frames before which the recurrent state was reset (``StreamOptions/resetAfterSilence``).
  public var resetFrames: [Int] = []

  /// Audio seconds per compute second.
  public var realTimeFactor: Double { computeSeconds > 0 ? audioSeconds / computeSeconds : 0 }

  /// A readable table.
  public var table: String {
    func row(_ name: String, _ s: LatencySummary) -> String {
      func f(_ v: Double) -> String { formatted("%9.1f", v) }
      return padded(name, to: 22)
        + "\(f(s.p50)) \(f(s.p90)) \(f(s.p99)) \(f(s.p999)) \(f(s.max)) \(f(s.mean))  \(s.count)"
    }
    return """
      frames \(frames), dropped \(dropped), xruns \(xruns), discontinuities \(discontinuities)
      audio \(formatted("%.2f", audioSeconds)) s, compute \(formatted("%.4f", computeSeconds)) s, \
      \(formatted("%.0f", realTimeFactor)) x real-time
      latency (µs)                p50       p90       p99     p99.9       max      mean  count
      \(row("step", step))
      \(row("features + step", compute))
      \(row("queue wait", queueWait))
      \(row("capture to output", captureToOutput))
      """ + (error.map { "\nstopped early: \($0)" } ?? "")
  }

  /// The JSON object `--stats-json` writes.
  public var json: JSONValue {
    var object: [String: JSONValue] = [
      "frames": .number(Double(frames)), "dropped": .number(Double(dropped)), "xruns": .number(Double(xruns)),
      "discontinuities": .number(Double(discontinuities)), "audio_seconds": .number(audioSeconds),
      "compute_seconds": .number(computeSeconds), "x_real_time": .number(realTimeFactor),
      "step": step.json, "compute": compute.json, "queue_wait": queueWait.json,
      "capture_to_output": captureToOutput.json,
      "resets": .number(Double(resetFrames.count)),
    ]
    if let error { object["error"] = .string(error) }
    return .object(object)
  }
}

/// Runs a stream: a source feeds a ``FrameProducer`` on its own thread; this thread pops frames,
/// steps the model (state carried), records latencies and hands records to the sink.
public final class StreamRunner {
  let model: RecurrentModel
  let features: FeatureConfiguration
  let sink: (any FrameSink)?
  let options: StreamOptions
  /// Stop the stream from another thread (tests); SIGINT/SIGTERM do the same once handlers are installed.
  public let control = StreamControl()
  let counters = StreamCounters()

  /// Checks that the model takes these features and allocates nothing yet.
  public init(
    model: RecurrentModel, features: FeatureConfiguration, sink: (any FrameSink)?, options: StreamOptions
  )
    throws
  {
    guard model.inputSize == features.featureCount else {
      throw SinkError(
        description:
          "the model takes \(model.inputSize) inputs per frame but the features give \(features.featureCount) (set --n-mels or the model's features metadata)"
      )
    }
    guard options.ringCapacity >= 2, options.ringCapacity & (options.ringCapacity - 1) == 0 else {
      throw SinkError(description: "--ring-capacity \(options.ringCapacity) must be a power of two ≥ 2")
    }
    guard options.every >= 1 else { throw SinkError(description: "--every must be at least 1") }
    self.model = model
    self.features = features
    self.sink = sink
    self.options = options
  }

  /// Runs `produce` on a producer thread and consumes here until it finishes and the ring is
  /// drained (or a stop is requested). `produce` gets the producer and returns when the source
  /// ends; an error it throws ends the stream and is reported in ``StreamReport/error``.
  public func run(
    waitsForRoom: Bool, produce: @escaping @Sendable (FrameProducer, StreamControl) throws -> Void
  )
    throws -> StreamReport
  {
    let ring = FrameRing(capacity: options.ringCapacity, frameSize: features.featureCount)
    let producer = FrameProducer(
      extractor: try features.makeExtractor(), ring: ring.producer, counters: counters, control: control,
      waitsForRoom: waitsForRoom)
    var state = try model.makeStepState()
    var output = [Float](repeating: 0, count: model.outputSize)
    // Warm-up: the first call of each function may set up runtime metadata (an allocation).
    let zeros = [Float](repeating: 0, count: model.inputSize)
    zeros.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        model.step(x, state: &state, output: y)
        model.applyHeadActivation(y)
      }
    }
    state.reset()

    let producerError = ErrorBox()
    let control = self.control
    let thread = try JoinableThread {
      do { try produce(producer, control) } catch { producerError.set("\(error)") }
      control.producerFinished.store(true, ordering: .releasing)
      ring.producer.wakeConsumer()
    }

    var stepTimes = LatencyRecorder()
    var computeTimes = LatencyRecorder()
    var queueWaits = LatencyRecorder()
    var latencies = LatencyRecorder()
    var frames = 0
    var discontinuities = 0
    var sinkError: Error?
    let secondsPerFrame = Double(features.hopLength) / Double(features.sampleRate)
    let frameLimit = options.duration.map { Int(($0 / secondsPerFrame).rounded(.up)) }
    var lastProgress = monotonicNow()
    let consumer = ring.consumer
    // Segments and resets read the speech output: the one labelled "speech", else the first.
    let speechIndex = model.head?.labels?.firstIndex(of: "speech") ?? 0
    var detector = options.segments.map {
      SegmentDetector(parameters: $0, chunkSamples: features.hopLength, sampleRate: features.sampleRate)
    }
    let silenceThreshold =
      options.segments.map { $0.negativeThreshold ?? max($0.threshold - 0.15, 0.01) } ?? 0.35
    let resetFrameCount = options.resetAfterSilence.map { Int(($0 / secondsPerFrame).rounded(.up)) }
    var silentFrames = 0
    var resetFrames: [Int] = []
    func writeEvent(_ event: SegmentEvent) {
      guard let sink, sinkError == nil else { return }
      do { try sink.write(event, sampleRate: features.sampleRate) } catch {
        sinkError = error
        control.requestStop()
      }
    }

    output.withUnsafeMutableBufferPointer { output in
      while true {
        while consumer.pop({ frame, info in
          let popped = monotonicNow()
          queueWaits.record(popped &- info.pushTime)
          if let resetFrameCount, silentFrames >= resetFrameCount {
            state.reset()
            resetFrames.append(info.index)
            silentFrames = 0
          }
          model.step(frame, state: &state, output: output)
          model.applyHeadActivation(output)
          let stepped = monotonicNow()
          let speech = output[speechIndex]
          silentFrames = speech < silenceThreshold ? silentFrames + 1 : 0
          detector?.process(speech, emit: writeEvent)
          stepTimes.record(stepped &- popped)
          computeTimes.record(info.featureNanoseconds &+ (stepped &- popped))
          if info.discontinuity { discontinuities += 1 }
          latencies.record(stepped &- info.captureTime)
          if let sink, !options.quiet, sinkError == nil, info.index % options.every == 0 {
            do {
              try sink.write(
                FrameRecord(
                  index: info.index, time: Double(info.index) * secondsPerFrame,
                  outputs: UnsafeBufferPointer(output),
                  stepMicroseconds: Double(stepped &- popped) / 1000,
                  latencyMicroseconds: Double(stepped &- info.captureTime) / 1000,
                  discontinuity: info.discontinuity))
            } catch {
              sinkError = error
              control.requestStop()
            }
          }
          frames += 1
        }) {
          if let frameLimit, frames >= frameLimit { control.requestStop() }
        }
        if control.producerFinished.load(ordering: .acquiring) && !consumer.hasFrames { break }
        if options.progress, monotonicNow() &- lastProgress > 500_000_000 {
          lastProgress = monotonicNow()
          let summary = latencies.summary
          writeToStandardError(
            formatted(
              "\r%d frames, %d dropped, %d xruns, capture-to-output p99 %.2f ms   ", frames,
              counters.dropped.load(ordering: .relaxed), counters.xruns.load(ordering: .relaxed),
              summary.p99 / 1000))
        }
        consumer.waitForFrames(timeoutNanoseconds: 50_000_000)
      }
    }
    thread.join()
    detector?.finish(totalSamples: counters.samples.load(ordering: .relaxed), emit: writeEvent)
    if options.progress { writeToStandardError("\r\u{1B}[K") }
    if let sinkError { throw sinkError }
    try sink?.finish()

    let samples = counters.samples.load(ordering: .relaxed)
    return StreamReport(
      frames: frames, dropped: counters.dropped.load(ordering: .relaxed),
      xruns: counters.xruns.load(ordering: .relaxed),
      discontinuities: discontinuities, audioSeconds: Double(samples) / Double(features.sampleRate),
      computeSeconds: Double(counters.featureNanoseconds.load(ordering: .relaxed) &+ stepTimes.total) / 1e9,
      step: stepTimes.summary, compute: computeTimes.summary, queueWait: queueWaits.summary,
      captureToOutput: latencies.summary,
      error: producerError.value, resetFrames: resetFrames)
  }
}

/// A message handed from the producer thread to the consumer once (a lock is fine: not real-time).
final class ErrorBox: Sendable {
  private let message = Mutex<String?>(nil)
  func set(_ text: String) { message.withLock { $0 = text } }
  var value: String? { message.withLock { $0 } }
}
