import AllocationCounter
import Foundation
import StreamCore
import Testing

func info(_ index: Int) -> FrameInfo {
  FrameInfo(
    index: index, captureTime: UInt64(index) * 7, pushTime: UInt64(index) * 11, discontinuity: index % 3 == 0)
}

@Suite("Frame ring")
struct FrameRingTests {
  @Test("Every wrap-around position and fill level", arguments: [2, 4, 8, 16])
  func everyWrapAround(capacity: Int) {
    // For each starting offset (where the counters wrap) and each fill level, push then pop and
    // check order, contents, metadata, and the full/empty answers.
    for start in 0..<(2 * capacity) {
      for fill in 0...capacity {
        let ring = FrameRing(capacity: capacity, frameSize: 3)
        var next = 0
        for _ in 0..<start {  // advance both counters to `start`
          let frame: [Float] = [0, 0, 0]
          _ = frame.withUnsafeBufferPointer { ring.producer.push($0, info: info(0)) }
          _ = ring.consumer.pop { _, _ in }
        }
        for _ in 0..<fill {
          let frame: [Float] = [Float(next), Float(next) + 0.5, -Float(next)]
          #expect(frame.withUnsafeBufferPointer { ring.producer.push($0, info: info(next)) } == .pushed)
          next += 1
        }
        let extra: [Float] = [9, 9, 9]
        #expect(
          extra.withUnsafeBufferPointer { ring.producer.push($0, info: info(99)) }
            == (fill == capacity ? .full : .pushed))
        let expectedCount = fill == capacity ? fill : fill + 1
        #expect(ring.count == expectedCount)
        for expected in 0..<expectedCount {
          var seen: ([Float], FrameInfo)?
          #expect(ring.consumer.pop { frame, frameInfo in seen = (Array(frame), frameInfo) })
          let index = expected < fill ? expected : 99
          let values: [Float] = index == 99 ? [9, 9, 9] : [Float(index), Float(index) + 0.5, -Float(index)]
          #expect(
            seen?.0 == values && seen?.1 == info(index), "capacity \(capacity) start \(start) fill \(fill)")
        }
        #expect(!ring.consumer.pop { _, _ in }, "empty after draining")
      }
    }
  }

  @Test func twoThreadsTenMillionFramesInOrder() async throws {
    let total = 10_000_000
    let ring = FrameRing(capacity: 64, frameSize: 2)
    let producerDone = ManagedAtomicFlag()
    let producer = Thread {
      var frame: [Float] = [0, 0]
      var index = 0
      frame.withUnsafeMutableBufferPointer { buffer in
        while index < total {
          buffer[0] = Float(index & 0xFFFF)
          buffer[1] = Float(index >> 16)
          if ring.producer.push(
            UnsafeBufferPointer(buffer),
            info: FrameInfo(index: index, captureTime: UInt64(index), pushTime: 0, discontinuity: false))
            == .pushed
          {
            index += 1
          }
        }
      }
      producerDone.set()
    }
    producer.start()
    var expected = 0
    var mismatches = 0
    while expected < total {
      let got = ring.consumer.pop { frame, frameInfo in
        if frameInfo.index != expected || Int(frame[0]) != expected & 0xFFFF
          || Int(frame[1]) != expected >> 16
          || frameInfo.captureTime != UInt64(expected)
        {
          mismatches += 1
        }
        expected += 1
      }
      if !got { ring.consumer.waitForFrames(timeoutNanoseconds: 1_000_000) }
    }
    while !producerDone.isSet { usleep(100) }
    #expect(mismatches == 0)
    #expect(expected == total)
    #expect(!ring.consumer.pop { _, _ in })
  }

  @Test func pushAndPopAllocateNothing() {
    let ring = FrameRing(capacity: 8, frameSize: 40)
    let frame = [Float](repeating: 1, count: 40)
    var sum: Float = 0
    let allocations = frame.withUnsafeBufferPointer { buffer in
      _ = ring.producer.push(buffer, info: info(0))
      _ = ring.consumer.pop { values, _ in sum += values[0] }
      allocation_counter_start()
      for index in 0..<100_000 {
        _ = ring.producer.push(buffer, info: info(index))
        _ = ring.producer.push(buffer, info: info(index))
        _ = ring.consumer.pop { values, _ in sum += values[0] }
        _ = ring.consumer.pop { values, _ in sum += values[1] }
      }
      return allocation_counter_stop()
    }
    #expect(allocations == 0)
    #expect(sum == 200_001)
  }

  @Test func aSleepingConsumerUsesNoCPUAndWakesQuickly() {
    let ring = FrameRing(capacity: 8, frameSize: 1)
    // Idle: 300 ms asleep on an empty ring costs (almost) no CPU time on this thread.
    let before = threadCPUNanoseconds()
    let start = monotonicNanoseconds()
    ring.consumer.waitForFrames(timeoutNanoseconds: 300_000_000)
    let slept = monotonicNanoseconds() - start
    let cpu = threadCPUNanoseconds() - before
    #expect(slept >= 250_000_000, "the wait timed out early: \(slept) ns")
    #expect(cpu < 20_000_000, "waiting on an empty ring burned \(cpu) ns of CPU")
    // Wake-up: a push from another thread ends the wait long before the 2 s timeout.
    var wakeDelays: [UInt64] = []
    for _ in 0..<20 {
      let pushedAt = ManagedAtomicValue()
      let pusher = Thread {
        usleep(2_000)
        let one: [Float] = [1]
        pushedAt.store(monotonicNanoseconds())
        _ = one.withUnsafeBufferPointer { ring.producer.push($0, info: info(0)) }
      }
      pusher.start()
      ring.consumer.waitForFrames(timeoutNanoseconds: 2_000_000_000)
      let woke = monotonicNanoseconds()
      #expect(ring.consumer.pop { _, _ in })
      wakeDelays.append(woke &- pushedAt.load())
    }
    wakeDelays.sort()
    // A sanity bound only; the measured figure goes to the README.
    #expect(
      wakeDelays[wakeDelays.count / 2] < 50_000_000, "median wake-up \(wakeDelays[wakeDelays.count / 2]) ns")
  }
}

func monotonicNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func threadCPUNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Minimal thread-safe flag and value for the tests (a lock is fine off the real-time path).
final class ManagedAtomicFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  func set() { lock.withLock { value = true } }
  var isSet: Bool { lock.withLock { value } }
}

final class ManagedAtomicValue: @unchecked Sendable {
  private let lock = NSLock()
  private var value: UInt64 = 0
  func store(_ new: UInt64) { lock.withLock { value = new } }
  func load() -> UInt64 { lock.withLock { value } }
}
