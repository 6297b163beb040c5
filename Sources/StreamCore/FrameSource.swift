/// What a source does when the ring between it and the model is full.
public enum OverflowPolicy: Sendable, Equatable {
  /// Wait for room: nothing is dropped (a file replayed as fast as the model takes frames).
  case waitForRoom
  /// Drop the frame, count it and flag the next one as a discontinuity (live capture, paced
  /// replay: audio keeps arriving whether or not the model keeps up).
  case dropAndCount
}

/// Where a stream's audio comes from: ALSA capture, a replayed file, a network connection.
///
/// The runner calls ``run(into:)`` once, on a thread of its own (the source thread). The source
/// pushes mono samples at ``sampleRate`` into the producer until its input ends (return normally:
/// the runner then flushes the features) or ``FrameProducer/control`` asks it to stop (return
/// promptly). An error it throws ends the stream and is kept, typed, in the stream's report.
///
/// Real-time contract for conforming types: after ``run(into:)`` starts, the read loop allocates,
/// locks and logs nothing; buffers are allocated when the source is made.
public protocol FrameSource: AnyObject, Sendable {
  /// The rate of the samples pushed, Hz; it must equal the features' rate.
  var sampleRate: Int { get }
  /// Whether a full ring makes this source wait or drop.
  var overflow: OverflowPolicy { get }
  /// Pushes samples until the input ends or a stop is requested. Runs on the source thread.
  func run(into producer: FrameProducer) throws
  /// One-line notices about how the source ran (for example, real-time priority refused), read
  /// after ``run(into:)`` returns. Empty by default.
  var notices: [String] { get }
}

extension FrameSource {
  /// No notices.
  public var notices: [String] { [] }
}
