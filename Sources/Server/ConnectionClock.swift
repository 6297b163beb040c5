import StreamCore
import Synchronization

/// Something the ``ConnectionClock`` marks time for.
protocol ClockTicked: AnyObject, Sendable {
  /// Called about every ``ConnectionClock/period`` with the monotonic time in ns, on the clock's
  /// task; must not block.
  func pulse(now: UInt64)
}

/// One timer for all of a server's connections: every 250 ms it calls ``ClockTicked/pulse(now:)``
/// on each registered connection (idle timeout, drain, stuck writer).
///
/// A timer per connection costs a rescheduling in the event loop's timer heap per tick: with a
/// thousand connections, 4,000 heap insertions and removals a second, about 3 % of the core that
/// serves them. Here it is one sleep per tick and a walk over the members. The clock's task runs
/// while there are members and ends when the last one leaves (so a server that is never stopped
/// leaves no task behind); the next registration starts a new one.
///
/// Thread: any; ``register(_:)`` and ``unregister(_:)`` take a lock (once per connection, not per
/// message).
final class ConnectionClock: Sendable {
  /// The time between pulses.
  static let period: Duration = .milliseconds(250)

  private struct State {
    var members: [ObjectIdentifier: any ClockTicked] = [:]
    var running = false
  }

  private let state = Mutex(State())

  /// Pulses `member` from the next tick on, until ``unregister(_:)``.
  func register(_ member: any ClockTicked) {
    let start = state.withLock { state in
      state.members[ObjectIdentifier(member)] = member
      defer { state.running = true }
      return !state.running
    }
    if start { Task.detached { [self] in await run() } }
  }

  /// Stops pulsing `member`. A walk that began before may still pulse it once.
  func unregister(_ member: any ClockTicked) {
    _ = state.withLock { $0.members.removeValue(forKey: ObjectIdentifier(member)) }
  }

  private func run() async {
    while true {
      try? await Task.sleep(for: Self.period)
      let members: [any ClockTicked]? = state.withLock { state in
        if state.members.isEmpty {
          state.running = false
          return nil
        }
        return Array(state.members.values)
      }
      guard let members else { return }
      let now = monotonicNow()
      for member in members { member.pulse(now: now) }
    }
  }
}
