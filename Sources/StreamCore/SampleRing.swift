import Synchronization

/// A lock-free single-producer, single-consumer ring of audio samples: one thread writes blocks,
/// another reads them. The multi-stream engine keeps one per session between the thread that
/// receives the session's audio and the worker that owns the session.
///
/// Real-time contract: ``write(_:)`` and ``read(into:)`` never allocate, lock or block; a block
/// that does not fit is refused whole (the caller counts or retries it), so no sample is split or
/// silently lost. The buffer (`capacity` floats, a power of two) is allocated at init.
public final class SampleRing: @unchecked Sendable {
  /// Samples the ring holds.
  public let capacity: Int
  private let mask: Int
  private let buffer: UnsafeMutablePointer<Float>
  /// Samples written so far (producer), read so far (consumer); wrapping counters.
  private let written = Atomic<Int>(0)
  private let consumed = Atomic<Int>(0)

  /// A ring of `capacity` samples, a power of two from 2 to 2^26.
  public init(capacity: Int) {
    precondition(
      capacity >= 2 && capacity <= 1 << 26 && capacity & (capacity - 1) == 0,
      "sample ring capacity \(capacity) is not a power of two from 2 to 2^26")
    self.capacity = capacity
    mask = capacity - 1
    buffer = .allocate(capacity: capacity)
    buffer.initialize(repeating: 0, count: capacity)
  }

  deinit { buffer.deallocate() }

  /// Samples waiting to be read (either thread; a snapshot).
  public var count: Int { written.load(ordering: .acquiring) &- consumed.load(ordering: .acquiring) }

  /// Free room, samples (producer side; a lower bound while the consumer reads).
  public var room: Int { capacity - count }

  /// Appends `samples` whole, or nothing when they do not fit (returns false). Producer thread.
  @discardableResult
  public func write(_ samples: UnsafeBufferPointer<Float>) -> Bool {
    let tail = written.load(ordering: .relaxed)
    let head = consumed.load(ordering: .acquiring)
    guard samples.count <= capacity - (tail &- head) else { return false }
    guard let base = samples.baseAddress, !samples.isEmpty else { return true }
    let start = tail & mask
    let first = min(samples.count, capacity - start)
    (buffer + start).update(from: base, count: first)
    if first < samples.count { buffer.update(from: base + first, count: samples.count - first) }
    written.store(tail &+ samples.count, ordering: .releasing)
    return true
  }

  /// Moves up to `destination.count` samples out; returns how many. Consumer thread.
  public func read(into destination: UnsafeMutableBufferPointer<Float>) -> Int {
    let head = consumed.load(ordering: .relaxed)
    let tail = written.load(ordering: .acquiring)
    let count = min(tail &- head, destination.count)
    guard count > 0, let base = destination.baseAddress else { return 0 }
    let start = head & mask
    let first = min(count, capacity - start)
    base.update(from: buffer + start, count: first)
    if first < count { (base + first).update(from: buffer, count: count - first) }
    consumed.store(head &+ count, ordering: .releasing)
    return count
  }
}
