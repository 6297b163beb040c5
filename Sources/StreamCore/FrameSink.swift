/// What a stream computes, handed to sinks and observers before the first frame.
public struct StreamDescription: Sendable, Equatable {
  /// Audio samples per second at the features' rate, Hz.
  public var sampleRate: Int
  /// Samples between frames.
  public var hopLength: Int
  /// Floats per record (`FrameRecord.outputs.count`).
  public var outputCount: Int
  /// The outputs' names (the model's `labels`), or nil.
  public var labels: [String]?
  /// The outputs are independent probabilities (a sigmoid head): an output "wins" only at or above
  /// a threshold, not just by being the largest.
  public var independentProbabilities: Bool

  /// A description.
  public init(
    sampleRate: Int, hopLength: Int, outputCount: Int, labels: [String]?, independentProbabilities: Bool
  ) {
    self.sampleRate = sampleRate
    self.hopLength = hopLength
    self.outputCount = outputCount
    self.labels = labels
    self.independentProbabilities = independentProbabilities
  }

  /// Seconds between frames (`hopLength / sampleRate`).
  public var secondsPerFrame: Double { Double(hopLength) / Double(sampleRate) }
}

/// One per-frame result, as handed to observers and sinks on the consumer thread.
public struct FrameRecord {
  /// 0-based frame number.
  public var index: Int
  /// Stream time of the frame's start, seconds (`index × hop / rate`).
  public var time: Double
  /// The outputs after the head activation (probabilities for softmax/sigmoid heads), or the
  /// last layer's `h` for a model without a head: `[outputCount]`. Valid only during the call.
  public var outputs: UnsafeBufferPointer<Float>
  /// Step compute time, µs.
  public var stepMicroseconds: Double
  /// Capture-to-output latency, µs.
  public var latencyMicroseconds: Double
  /// The frame follows a gap.
  public var discontinuity: Bool
  /// The source doubted its clock when it delivered this frame (audio much faster or slower than
  /// real time).
  public var clockSuspect: Bool
  /// The model state was zeroed on request just before this frame (``StreamObserver``s end what
  /// they had open there).
  public var stateReset: Bool

  /// A record.
  public init(
    index: Int, time: Double, outputs: UnsafeBufferPointer<Float>, stepMicroseconds: Double,
    latencyMicroseconds: Double, discontinuity: Bool, clockSuspect: Bool = false, stateReset: Bool = false
  ) {
    self.stateReset = stateReset
    self.clockSuspect = clockSuspect
    self.index = index
    self.time = time
    self.outputs = outputs
    self.stepMicroseconds = stepMicroseconds
    self.latencyMicroseconds = latencyMicroseconds
    self.discontinuity = discontinuity
  }
}

/// Something an observer decided about the stream. Sample positions are at the features' rate
/// (``StreamDescription/sampleRate``).
public enum StreamEvent: Equatable, Sendable {
  /// Speech started at this sample (already padded); announced as soon as it is decided.
  case speechStart(sample: Int)
  /// A start announced earlier turned out to belong to a segment shorter than the minimum.
  case speechDiscarded(sample: Int)
  /// A finished speech segment `[start, end)`, in samples.
  case speechSegment(start: Int, end: Int)
  /// An event of output `label` (its index) began at record `frame`, whose start is `time`
  /// seconds of stream time. Announced as soon as it is decided (``onset(label:frame:time:)`` comes
  /// before the matching ``offset(label:frame:time:duration:)``).
  case onset(label: Int, frame: Int, time: Double)
  /// The event of output `label` that began `duration` seconds earlier ended before record `frame`
  /// (the first frame not in it), whose start is `time` seconds.
  case offset(label: Int, frame: Int, time: Double, duration: Double)
}

/// Where per-frame records go.
///
/// Runs on the consumer thread, after the step: it may do I/O (the ring decouples it from the
/// source), but a slow sink shows up as queue wait and, if the ring fills, as counted drops.
/// Errors it throws stop the stream and are rethrown by the runner.
public protocol FrameSink: AnyObject {
  /// Called once before the first frame (before any thread starts): allocate and check here.
  func begin(_ stream: StreamDescription) throws
  /// Writes one record.
  func write(_ record: FrameRecord) throws
  /// Flushes and closes; called once at the end of the stream.
  func finish() throws
}

extension FrameSink {
  /// Nothing to prepare.
  public func begin(_ stream: StreamDescription) throws {}
}

/// A sink that also takes events (speech segments…). A stream whose observers emit events refuses,
/// before it starts, a sink that is not one.
public protocol EventSink: FrameSink {
  /// Writes one event, as soon as it is decided. Consumer thread.
  func write(_ event: StreamEvent) throws
}

/// A sink that groups records: told when the records delivered together (one delivery pass of a
/// multi-stream engine) have all been written, so it can send them as one message.
public protocol BatchingFrameSink: FrameSink {
  /// The records written since the last call form one batch. Consumer thread.
  func endBatch() throws
}
