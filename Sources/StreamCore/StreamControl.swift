import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Counters the producer (capture or replay thread) updates and any thread may read: lock-free
/// atomics, so reading or updating them never allocates or locks.
public final class StreamCounters: Sendable {
  /// Frames pushed into the ring.
  public let pushed = Atomic<Int>(0)
  /// Frames the producer could not push because the ring was full (each one counted, none silent).
  public let dropped = Atomic<Int>(0)
  /// Capture overruns (-EPIPE) recovered from.
  public let xruns = Atomic<Int>(0)
  /// Device suspends (-ESTRPIPE) resumed from.
  public let suspends = Atomic<Int>(0)
  /// Audio lost to overruns and suspends, in samples at the feature rate: for each gap, the time
  /// from the last good read to the audio of the first good read after it (a source's estimate,
  /// within about one period).
  public let lostSamples = Atomic<Int>(0)
  /// Windows in which the device delivered audio much faster or slower than its nominal rate
  /// against the monotonic clock (a source's clock sanity check).
  public let clockSuspectWindows = Atomic<Int>(0)
  /// Audio samples fed to the feature extractor (at the feature rate).
  public let samples = Atomic<Int>(0)
  /// Nanoseconds spent turning samples into frames and pushing them.
  public let featureNanoseconds = Atomic<UInt64>(0)

  /// All zero.
  public init() {}
}

/// Asks a running stream to stop: from a signal handler, a duration limit, another thread or a
/// test. Any thread; lock-free, no allocation.
public final class StreamControl: Sendable {
  let stop = Atomic<Bool>(false)
  /// Set on the source thread when the source has pushed its last frame (end of input, stop, or
  /// device error); read by the consumer.
  package let producerFinished = Atomic<Bool>(false)

  /// A control that has not been asked to stop.
  public init() {}

  /// Asks the stream to stop: the source stops producing, the consumer drains the ring.
  public func requestStop() { stop.store(true, ordering: .releasing) }

  /// Whether a stop was asked for (here or by SIGINT/SIGTERM).
  public var isStopRequested: Bool {
    stop.load(ordering: .acquiring) || signalStop.load(ordering: .acquiring)
  }
}

/// Set by the SIGINT/SIGTERM handlers; read by every ``StreamControl``.
let signalStop = Atomic<Bool>(false)

/// Makes SIGINT and SIGTERM ask running streams to stop (drain, flush, print statistics) instead of
/// killing the process. The handler only stores an atomic flag (async-signal-safe).
///
/// Also unblocks both signals on the calling thread (threads started later inherit that): a
/// process spawned from a thread that blocks them inherits a blocked mask, and then never sees
/// them (seen with children of the test runner).
public func installStopSignalHandlers() {
  var signals = sigset_t()
  sigemptyset(&signals)
  for signalNumber in [SIGINT, SIGTERM] {
    signal(signalNumber) { _ in signalStop.store(true, ordering: .releasing) }
    sigaddset(&signals, signalNumber)
  }
  pthread_sigmask(SIG_UNBLOCK, &signals, nil)
}
