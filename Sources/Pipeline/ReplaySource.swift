import AudioFile

/// How a replay releases audio.
public enum ReplayPace: String, Sendable, CaseIterable {
  /// Each hop of samples is released at its real-time deadline on the monotonic clock, as a
  /// device would deliver it, so latency figures mean what they mean live.
  case realtime
  /// As fast as the consumer takes frames; the producer waits for room, so nothing is dropped and
  /// the outputs equal the offline result.
  case max
}

/// Replays an audio file through the same producer → ring → consumer path as live capture.
public struct ReplaySource: Sendable {
  /// The file.
  public let path: String
  /// Channel handling.
  public let channel: ChannelSelection
  /// Real-time or as fast as possible.
  public let pace: ReplayPace

  /// A replay of `path`.
  public init(path: String, channel: ChannelSelection = .mean, pace: ReplayPace) {
    self.path = path
    self.channel = channel
    self.pace = pace
  }

  /// Opens the file (call before any thread starts, so errors come first), returning its decoder.
  public func openStream(sampleRate: Int) throws -> MonoAudioStream {
    try MonoAudioStream(path: path, outputRate: sampleRate, channel: channel)
  }

  /// Decodes (and resamples) the file and feeds it to `producer` in blocks of `hop` samples, then
  /// ends the stream (unless stopped early).
  public func run(stream: MonoAudioStream, producer: FrameProducer, control: StreamControl, hop: Int) throws {
    struct Stopped: Error {}
    let rate = Double(stream.outputRate)
    var pending = [Float](repeating: 0, count: hop)
    var pendingCount = 0
    var released = 0
    let start = monotonicNow()
    func release(_ block: UnsafeBufferPointer<Float>) {
      released += block.count
      let deadline = start &+ UInt64(Double(released) / rate * 1e9)
      if pace == .realtime {
        sleep(untilMonotonic: deadline)
        producer.push(block, captureTime: deadline, discontinuity: false)
      } else {
        producer.push(block, captureTime: monotonicNow(), discontinuity: false)
      }
    }
    do {
      try stream.forEachBlock { block in
        var offset = 0
        while offset < block.count {
          if control.isStopRequested { throw Stopped() }
          let taken = min(hop - pendingCount, block.count - offset)
          for index in 0..<taken { pending[pendingCount + index] = block[offset + index] }
          pendingCount += taken
          offset += taken
          if pendingCount == hop {
            pending.withUnsafeBufferPointer { release($0) }
            pendingCount = 0
          }
        }
      }
      if pendingCount > 0 {
        pending.withUnsafeBufferPointer { release(UnsafeBufferPointer(rebasing: $0[0..<pendingCount])) }
      }
      producer.finish()
    } catch is Stopped {
      return
    }
  }
}
