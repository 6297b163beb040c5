/// Sees the stream's audio on the source thread, each block before its features are made (a
/// report's waveform and spectrogram, a meter's input level).
///
/// Real-time contract: ``tap(_:)`` runs on the capture thread and must not allocate, lock, block
/// or do I/O; allocate before the stream starts. What it gathers may be read by another thread
/// only through atomics, or after the stream has ended (the runner joins the source thread).
public protocol AudioTap: AnyObject {
  /// One block of mono samples at the features' rate, valid only during the call.
  func tap(_ samples: UnsafeBufferPointer<Float>)
}

/// The producing half of a stream: samples in, feature frames into the ring. A ``FrameSource``
/// gets one and pushes into it.
///
/// Used on the source thread only (the capture or replay thread). ``push(_:captureTime:discontinuity:)``
/// runs the extractor and pushes each completed frame with its metadata. A full ring drops the
/// frame, counts it and marks the next pushed frame as a discontinuity (never silent), unless the
/// source's ``OverflowPolicy`` is ``OverflowPolicy/waitForRoom`` (replay at maximum speed: the
/// producer waits, nothing is dropped). Does not allocate or lock; waiting for room sleeps in steps
/// of 50 µs and gives up when a stop is requested.
public final class FrameProducer: @unchecked Sendable {
  let extractor: any FeatureExtractor
  let ring: RingProducer
  /// The stream's counters (a source counts its own xruns here).
  public let counters: StreamCounters
  /// The stream's stop request, which a source polls between reads.
  public let control: StreamControl
  let waitsForRoom: Bool
  let tap: (any AudioTap)?
  private var nextIndex = 0
  private var pendingDiscontinuity = false
  private var blockCaptureTime: UInt64 = 0
  private var blockClockSuspect = false
  /// When the extractor started on the frame being made (the block's start, or the previous
  /// frame's push time): each frame's feature time.
  private var featureStart: UInt64 = 0

  /// A producer feeding `ring` through `extractor`. Made by the runner; tests make their own.
  package init(
    extractor: any FeatureExtractor, ring: RingProducer, counters: StreamCounters, control: StreamControl,
    overflow: OverflowPolicy, tap: (any AudioTap)? = nil
  ) {
    self.tap = tap
    self.extractor = extractor
    self.ring = ring
    self.counters = counters
    self.control = control
    waitsForRoom = overflow == .waitForRoom
  }

  /// Samples between frames: a source that paces itself releases blocks of this size.
  public var hopLength: Int { extractor.hopLength }

  /// Feeds mono samples at the feature rate whose last sample was captured at `captureTime`
  /// (monotonic ns, ``monotonicNow()``). `discontinuity` marks a gap before these samples (an
  /// overrun); `clockSuspect` says the source doubts its clock now. Source thread only; does not
  /// allocate or lock.
  public func push(
    _ samples: UnsafeBufferPointer<Float>, captureTime: UInt64, discontinuity: Bool,
    clockSuspect: Bool = false
  ) {
    if discontinuity { pendingDiscontinuity = true }
    blockCaptureTime = captureTime
    blockClockSuspect = clockSuspect
    tap?.tap(samples)
    let begin = monotonicNow()
    featureStart = begin
    extractor.push(samples) { frame in emit(frame) }
    counters.featureNanoseconds.add(monotonicNow() &- begin, ordering: .relaxed)
    counters.samples.add(samples.count, ordering: .relaxed)
  }

  /// Ends the input: emits the frames only the end decides (centred log-mel, a partial last
  /// chunk). The runner calls it when a source returns at the end of its input.
  package func finish() {
    extractor.finish { frame in emit(frame) }
  }

  private func emit(_ frame: UnsafeBufferPointer<Float>) {
    let featureTime = monotonicNow() &- featureStart
    if waitsForRoom {
      while !ring.hasRoom && !control.isStopRequested { sleep(untilMonotonic: monotonicNow() &+ 50_000) }
    }
    let info = FrameInfo(
      index: nextIndex, captureTime: blockCaptureTime, pushTime: monotonicNow(),
      discontinuity: pendingDiscontinuity, featureNanoseconds: featureTime, clockSuspect: blockClockSuspect)
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
