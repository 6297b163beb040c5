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
}
