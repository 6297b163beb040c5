import Features
import Foundation
import Recurrent
import StreamCore

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
      func f(_ v: Double) -> String { String(format: "%9.1f", v) }
      return name.padding(toLength: 22, withPad: " ", startingAt: 0)
        + "\(f(s.p50)) \(f(s.p90)) \(f(s.p99)) \(f(s.p999)) \(f(s.max)) \(f(s.mean))  \(s.count)"
    }
    return """
      frames \(frames), dropped \(dropped), xruns \(xruns), discontinuities \(discontinuities)
      audio \(String(format: "%.2f", audioSeconds)) s, compute \(String(format: "%.4f", computeSeconds)) s, \
      \(String(format: "%.0f", realTimeFactor)) x real-time
      latency (µs)                p50       p90       p99     p99.9       max      mean  count
      \(row("step", step))
      \(row("queue wait", queueWait))
      \(row("capture to output", captureToOutput))
      """ + (error.map { "\nstopped early: \($0)" } ?? "")
  }

  /// The JSON object `--stats-json` writes.
  public var json: [String: Any] {
    var object: [String: Any] = [
      "frames": frames, "dropped": dropped, "xruns": xruns, "discontinuities": discontinuities,
      "audio_seconds": audioSeconds, "compute_seconds": computeSeconds, "x_real_time": realTimeFactor,
      "step": step.json, "queue_wait": queueWait.json, "capture_to_output": captureToOutput.json,
      "resets": resetFrames.count,
    ]
    if let error { object["error"] = error }
    return object
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
    let thread = Thread {
      do { try produce(producer, control) } catch { producerError.set("\(error)") }
      control.producerFinished.store(true, ordering: .releasing)
      ring.producer.wakeConsumer()
    }
    thread.name = "streamrnn-producer"
    thread.start()

    var stepTimes = LatencyRecorder()
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
          let line = String(
            format: "\r%d frames, %d dropped, %d xruns, capture-to-output p99 %.2f ms   ", frames,
            counters.dropped.load(ordering: .relaxed), counters.xruns.load(ordering: .relaxed),
            summary.p99 / 1000)
          FileHandle.standardError.write(Data(line.utf8))
        }
        consumer.waitForFrames(timeoutNanoseconds: 50_000_000)
      }
    }
    thread.join()
    detector?.finish(totalSamples: counters.samples.load(ordering: .relaxed), emit: writeEvent)
    if options.progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    if let sinkError { throw sinkError }
    try sink?.finish()

    let samples = counters.samples.load(ordering: .relaxed)
    return StreamReport(
      frames: frames, dropped: counters.dropped.load(ordering: .relaxed),
      xruns: counters.xruns.load(ordering: .relaxed),
      discontinuities: discontinuities, audioSeconds: Double(samples) / Double(features.sampleRate),
      computeSeconds: Double(counters.featureNanoseconds.load(ordering: .relaxed) &+ stepTimes.total) / 1e9,
      step: stepTimes.summary, queueWait: queueWaits.summary, captureToOutput: latencies.summary,
      error: producerError.value, resetFrames: resetFrames)
  }
}

/// A message handed from the producer thread to the consumer once (a lock is fine: not real-time).
final class ErrorBox: @unchecked Sendable {
  private let lock = NSLock()
  private var message: String?
  func set(_ text: String) { lock.withLock { message = text } }
  var value: String? { lock.withLock { message } }
}

extension Thread {
  /// Waits until the thread's main function has returned.
  func join() {
    while !isFinished { usleep(1000) }
  }
}
