import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// What travels with each feature frame through the ring (the floats travel beside it).
public struct FrameInfo: Sendable, Equatable {
  /// 0-based frame number in the stream.
  public var index: Int
  /// Monotonic-clock time (ns) at which the frame's last sample was captured (live) or released
  /// (paced replay).
  public var captureTime: UInt64
  /// Monotonic-clock time (ns) at which the producer pushed the frame.
  public var pushTime: UInt64
  /// The frame follows a gap in the audio (an overrun, or dropped frames before it).
  public var discontinuity: Bool
  /// Time (ns) the feature extractor spent on this frame: from the start of the block that
  /// completed it, or from the previous frame's push, to this frame's completion (a wait for room
  /// in the ring is not counted). 0 when unknown.
  public var featureNanoseconds: UInt64
  /// The source doubted its clock when it delivered this frame's audio (see
  /// ``StreamCounters/clockSuspectWindows``).
  public var clockSuspect: Bool
  /// The model state was zeroed (a requested reset) just before this frame was stepped.
  public var stateReset: Bool

  /// A frame's metadata.
  public init(
    index: Int, captureTime: UInt64, pushTime: UInt64, discontinuity: Bool, featureNanoseconds: UInt64 = 0,
    clockSuspect: Bool = false, stateReset: Bool = false
  ) {
    self.stateReset = stateReset
    self.index = index
    self.captureTime = captureTime
    self.pushTime = pushTime
    self.discontinuity = discontinuity
    self.featureNanoseconds = featureNanoseconds
    self.clockSuspect = clockSuspect
  }
}

/// The result of a push.
public enum PushResult: Equatable, Sendable {
  /// The frame is in the ring.
  case pushed
  /// The ring was full: the frame was not stored. The caller counts it as dropped.
  case full
}

/// A lock-free single-producer/single-consumer ring of fixed-size float frames.
///
/// Capacity is a power of two, fixed at init, where all storage is allocated: `capacity` slots of
/// `frameSize` floats plus a ``FrameInfo`` each. `head` (next slot to read, owned by the consumer)
/// and `tail` (next slot to write, owned by the producer) are free-running counters, each on its own
/// cache line; a slot is `counter & (capacity − 1)`. Each side caches the other's counter and
/// reloads it only when the cached value says full/empty, so a push or pop usually touches no
/// shared cache line but its own.
///
/// Exactly one thread may push (through ``producer``) and one may pop (through ``consumer``).
/// Neither operation allocates, locks, blocks or throws. A consumer that finds the ring empty may
/// sleep in ``RingConsumer/waitForFrames(timeoutNanoseconds:)``; the producer wakes it with one
/// `sem_post` (no lock) only when it is actually asleep.
public final class FrameRing: @unchecked Sendable {
  /// Slots in the ring.
  public let capacity: Int
  /// Floats per frame.
  public let frameSize: Int
  let mask: Int
  /// `[capacity × frameSize]` frame data.
  let frames: UnsafeMutablePointer<Float>
  /// `[capacity]` metadata.
  let infos: UnsafeMutablePointer<FrameInfo>
  let indices: RingIndices
  /// The producer end: use from the producing thread only.
  public let producer: RingProducer
  /// The consumer end: use from the consuming thread only.
  public let consumer: RingConsumer

  /// Allocates a ring of `capacity` (a power of two ≥ 2) frames of `frameSize` floats.
  public init(capacity: Int, frameSize: Int) {
    precondition(
      capacity >= 2 && capacity & (capacity - 1) == 0, "ring capacity \(capacity) is not a power of two ≥ 2")
    precondition(frameSize > 0, "frame size must be positive")
    self.capacity = capacity
    self.frameSize = frameSize
    mask = capacity - 1
    frames = .allocate(capacity: capacity * frameSize)
    frames.initialize(repeating: 0, count: capacity * frameSize)
    infos = .allocate(capacity: capacity)
    infos.initialize(
      repeating: FrameInfo(index: 0, captureTime: 0, pushTime: 0, discontinuity: false), count: capacity)
    let indices = RingIndices()
    self.indices = indices
    producer = RingProducer(
      frames: frames, infos: infos, capacity: capacity, frameSize: frameSize, indices: indices)
    consumer = RingConsumer(
      frames: frames, infos: infos, capacity: capacity, frameSize: frameSize, indices: indices)
  }

  deinit {
    frames.deallocate()
    infos.deallocate()
  }

  /// Frames in the ring now (a snapshot; exact only when neither side is moving).
  public var count: Int {
    indices.tail.load(ordering: .acquiring) &- indices.head.load(ordering: .acquiring)
  }
}

/// The shared counters, each padded to its own 64-byte cache line.
final class RingIndices: @unchecked Sendable {
  private let paddingBefore: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  /// Next slot the consumer reads (written by the consumer only).
  let head = Atomic<Int>(0)
  private let paddingHead: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  /// Next slot the producer writes (written by the producer only).
  let tail = Atomic<Int>(0)
  private let paddingTail: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  /// 1 while the consumer sleeps (or is about to) on `wakeup`.
  let consumerSleeping = Atomic<Int>(0)
  private let paddingSleeping: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  /// Posted by the producer to wake a sleeping consumer.
  let wakeup: UnsafeMutablePointer<sem_t>

  init() {
    wakeup = .allocate(capacity: 1)
    sem_init(wakeup, 0, 0)
  }

  deinit {
    sem_destroy(wakeup)
    wakeup.deallocate()
  }
}

/// The producing end of a ``FrameRing``.
public final class RingProducer: @unchecked Sendable {
  let frames: UnsafeMutablePointer<Float>
  let infos: UnsafeMutablePointer<FrameInfo>
  let mask: Int
  let capacity: Int
  /// Floats per frame.
  public let frameSize: Int
  let indices: RingIndices
  private var tail = 0
  private var cachedHead = 0

  init(
    frames: UnsafeMutablePointer<Float>, infos: UnsafeMutablePointer<FrameInfo>, capacity: Int,
    frameSize: Int,
    indices: RingIndices
  ) {
    self.frames = frames
    self.infos = infos
    self.capacity = capacity
    mask = capacity - 1
    self.frameSize = frameSize
    self.indices = indices
  }

  /// Whether a push would find room now.
  public var hasRoom: Bool {
    if tail &- cachedHead < capacity { return true }
    cachedHead = indices.head.load(ordering: .acquiring)
    return tail &- cachedHead < capacity
  }

  /// Copies `frame` (``frameSize`` floats) and `info` into the next slot, or returns `.full`.
  /// Does not allocate, lock, block or throw.
  @discardableResult
  public func push(_ frame: UnsafeBufferPointer<Float>, info: FrameInfo) -> PushResult {
    guard hasRoom else { return .full }
    let slot = tail & mask
    (frames + slot * frameSize).update(from: frame.baseAddress!, count: frameSize)
    infos[slot] = info
    tail &+= 1
    indices.tail.store(tail, ordering: .releasing)
    // Wake the consumer only if it went to sleep. The fence orders the tail store before the flag
    // load (the consumer fences its flag store before its tail load), so one side always sees the
    // other: no lost wake-up.
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    if indices.consumerSleeping.load(ordering: .relaxed) == 1,
      indices.consumerSleeping.exchange(0, ordering: .acquiringAndReleasing) == 1
    {
      sem_post(indices.wakeup)
    }
    return .pushed
  }

  /// Wakes the consumer even with nothing pushed (for example to let it see the end of the stream).
  public func wakeConsumer() {
    indices.consumerSleeping.store(0, ordering: .releasing)
    sem_post(indices.wakeup)
  }
}

/// The consuming end of a ``FrameRing``.
public final class RingConsumer: @unchecked Sendable {
  let frames: UnsafeMutablePointer<Float>
  let infos: UnsafeMutablePointer<FrameInfo>
  let mask: Int
  /// Floats per frame.
  public let frameSize: Int
  let indices: RingIndices
  private var head = 0
  private var cachedTail = 0

  init(
    frames: UnsafeMutablePointer<Float>, infos: UnsafeMutablePointer<FrameInfo>, capacity: Int,
    frameSize: Int,
    indices: RingIndices
  ) {
    self.frames = frames
    self.infos = infos
    mask = capacity - 1
    self.frameSize = frameSize
    self.indices = indices
  }

  /// Whether a pop would find a frame now.
  public var hasFrames: Bool {
    if head != cachedTail { return true }
    cachedTail = indices.tail.load(ordering: .acquiring)
    return head != cachedTail
  }

  /// Hands the oldest frame to `body` (valid only during the call) and frees its slot; returns
  /// false, without calling `body`, when the ring is empty. Does not allocate, lock or block.
  @inline(__always)
  public func pop(_ body: (UnsafeBufferPointer<Float>, FrameInfo) -> Void) -> Bool {
    guard hasFrames else { return false }
    let slot = head & mask
    body(UnsafeBufferPointer(start: frames + slot * frameSize, count: frameSize), infos[slot])
    head &+= 1
    indices.head.store(head, ordering: .releasing)
    return true
  }

  /// Sleeps until the producer pushes (or ``RingProducer/wakeConsumer()``), or the timeout passes.
  /// Returns at once when frames are already waiting. Uses no CPU while asleep.
  public func waitForFrames(timeoutNanoseconds: UInt64) {
    indices.consumerSleeping.store(1, ordering: .sequentiallyConsistent)
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    // Re-check after announcing the sleep: a push in between either is seen here or sees the flag.
    if hasFrames {
      indices.consumerSleeping.store(0, ordering: .relaxed)
      return
    }
    var deadline = timespec()
    clock_gettime(CLOCK_REALTIME, &deadline)  // sem_timedwait measures against CLOCK_REALTIME
    let total = UInt64(deadline.tv_nsec) + timeoutNanoseconds
    deadline.tv_sec += Int(total / 1_000_000_000)
    deadline.tv_nsec = Int(total % 1_000_000_000)
    while sem_timedwait(indices.wakeup, &deadline) != 0 && errno == EINTR {}
    indices.consumerSleeping.store(0, ordering: .relaxed)
  }
}
