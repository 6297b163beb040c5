#if canImport(Glibc)
  import Glibc
#endif

/// The stream's one clock: `CLOCK_MONOTONIC` in nanoseconds. Every latency, deadline and pacing
/// figure in StreamRNN is read from here.
///
/// Any thread; does not allocate, lock or fail (a vDSO call of about 20 ns on x86-64 Linux).
/// Inlinable so that timing loops in other modules pay no call.
@inlinable @inline(__always)
public func monotonicNow() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Sleeps the calling thread until ``monotonicNow()`` reaches `deadline` (ns); returns at once if
/// it has passed. Restarts after signals. Does not allocate or lock (it blocks: not for a
/// consumer loop, fine for a paced source).
public func sleep(untilMonotonic deadline: UInt64) {
  var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
  while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
}
