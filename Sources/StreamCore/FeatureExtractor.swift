/// A streaming feature extractor: push samples in blocks of any size, get zero or more frames out.
/// The stream's producer drives one on the source thread (log-mel, fbank and learned frontends
/// live in `Features`; any conforming type can feed a stream).
///
/// Real-time contract: ``push(_:emit:)`` and ``finish(emit:)`` do not allocate or lock; every
/// buffer is allocated when the extractor is made. Each emitted frame is ``featureCount`` floats,
/// valid only during the `emit` call.
public protocol FeatureExtractor: AnyObject {
  /// Floats per frame (mel bands).
  var featureCount: Int { get }
  /// Samples between frame starts.
  var hopLength: Int { get }
  /// Feeds samples (mono, at the configured rate) and emits every frame they complete.
  func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void)
  /// Ends the stream: emits any frames only the end decides (centered padding), then resets.
  func finish(emit: (UnsafeBufferPointer<Float>) -> Void)
  /// Forgets the stream so far, for a new one.
  func reset()
  /// Zeros what the next frame would carry over from audio before it (a learned frontend's context
  /// samples), keeping the samples of the frame being assembled: called at a frame boundary, the
  /// frames from there on are computed as at the start of a stream. Extractors whose frames depend
  /// on nothing before their own window (log-mel, fbank) have nothing to zero (the default).
  /// Does not allocate or lock.
  func resetContext()
}

extension FeatureExtractor {
  /// Nothing to zero: each frame depends only on the samples of its own window.
  public func resetContext() {}
}
