import Features
import StreamCore

/// The producing half of a stream: samples in, feature frames into the ring.
///
/// Used on the capture (or replay) thread. ``push(_:captureTime:discontinuity:)`` runs the
/// extractor and pushes each completed frame with its metadata. A full ring drops the frame, counts
/// it and marks the next pushed frame as a discontinuity (never silent), unless the producer
/// waits for room (replay at maximum speed: nothing is dropped). Does not allocate or lock.
public final class FrameProducer: @unchecked Sendable {
  let extractor: any FeatureExtractor
  let ring: RingProducer
  /// The stream's counters (xruns are counted by the source).
  public let counters: StreamCounters
  let control: StreamControl
  /// Replay at maximum speed waits for room instead of dropping.
  let waitsForRoom: Bool
  private var nextIndex = 0
  private var pendingDiscontinuity = false
  private var blockCaptureTime: UInt64 = 0
  /// When the extractor started on the frame being made (the block's start, or the previous
  /// frame's push time): each frame's feature time.
  private var featureStart: UInt64 = 0

  init(
    extractor: any FeatureExtractor, ring: RingProducer, counters: StreamCounters, control: StreamControl,
    waitsForRoom: Bool
  ) {
    self.extractor = extractor
    self.ring = ring
    self.counters = counters
    self.control = control
    self.waitsForRoom = waitsForRoom
  }

  /// Feeds mono samples at the feature rate whose last sample was captured at `captureTime`
  /// (monotonic ns). `discontinuity` marks a gap before these samples (an overrun).
  /// Does not allocate or lock.
  public func push(_ samples: UnsafeBufferPointer<Float>, captureTime: UInt64, discontinuity: Bool) {
    if discontinuity { pendingDiscontinuity = true }
    blockCaptureTime = captureTime
    let begin = monotonicNow()
    featureStart = begin
    extractor.push(samples) { frame in emit(frame) }
    counters.featureNanoseconds.add(monotonicNow() &- begin, ordering: .relaxed)
    counters.samples.add(samples.count, ordering: .relaxed)
  }

  /// Ends the stream: emits the frames only the end decides (centered log-mel).
  public func finish() {
    extractor.finish { frame in emit(frame) }
  }

  private func emit(_ frame: UnsafeBufferPointer<Float>) {
    let featureTime = monotonicNow() &- featureStart
    if waitsForRoom {
      while !ring.hasRoom && !control.isStopRequested { sleep(untilMonotonic: monotonicNow() &+ 50_000) }
    }
    let info = FrameInfo(
      index: nextIndex, captureTime: blockCaptureTime, pushTime: monotonicNow(),
      discontinuity: pendingDiscontinuity, featureNanoseconds: featureTime)
    nextIndex += 1
    featureStart = info.pushTime
    if ring.push(frame, info: info) == .pushed {
      pendingDiscontinuity = false
      counters.pushed.add(1, ordering: .relaxed)
    } else {
      pendingDiscontinuity = true
      counters.dropped.add(1, ordering: .relaxed)
    }
  }
}

extension FrameProducer {
  /// A producer on `ring` outside a ``StreamRunner`` (tests, custom sources); drops when full.
  public static func forTesting(extractor: any FeatureExtractor, ring: FrameRing, counters: StreamCounters)
    -> FrameProducer
  {
    FrameProducer(
      extractor: extractor, ring: ring.producer, counters: counters, control: StreamControl(),
      waitsForRoom: false)
  }
}
