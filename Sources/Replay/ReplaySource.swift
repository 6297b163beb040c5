import AudioFile
import StreamCore

/// How a replay releases audio.
public enum ReplayPace: String, Sendable, CaseIterable {
  /// Each hop of samples is released at its real-time deadline on the monotonic clock, as a
  /// device would deliver it, so latency figures mean what they mean live; a full ring drops.
  case realtime
  /// As fast as the consumer takes frames; the producer waits for room, so nothing is dropped and
  /// the outputs equal the offline result.
  case max
}

/// An audio file replayed through the same producer → ring → consumer path as live capture.
///
/// ``init(path:sampleRate:channel:pace:)`` opens and checks the file (errors come before any
/// thread starts); ``run(into:)`` decodes (and resamples) it block by block on the source thread
/// and releases it in blocks of one hop. The release loop reuses one hop-sized buffer allocated at
/// the start of the run; decoding and resampling buffers are libsndfile's and libsoxr's.
public final class ReplaySource: FrameSource, @unchecked Sendable {
  /// The file.
  public let path: String
  /// Real-time or as fast as possible.
  public let pace: ReplayPace
  /// The rate samples are delivered at (the file is resampled to it), Hz.
  public let sampleRate: Int
  private let stream: MonoAudioStream

  /// Opens `path` for replay at `sampleRate` (the features' rate).
  /// - Throws: `AudioFileError` (one line naming the file) when it cannot be read or resampled.
  public init(path: String, sampleRate: Int, channel: ChannelSelection = .mean, pace: ReplayPace) throws {
    self.path = path
    self.pace = pace
    self.sampleRate = sampleRate
    stream = try MonoAudioStream(path: path, outputRate: sampleRate, channel: channel)
  }

  /// Max pace waits for room; real-time pace drops and counts like a device.
  public var overflow: OverflowPolicy { pace == .max ? .waitForRoom : .dropAndCount }

  /// Releases the file hop by hop until it ends or a stop is requested.
  public func run(into producer: FrameProducer) throws {
    struct Stopped: Error {}
    let hop = producer.hopLength
    let rate = Double(sampleRate)
    let control = producer.control
    var pending = [Float](repeating: 0, count: hop)
    var pendingCount = 0
    var released = 0
    let start = monotonicNow()
    func release(_ block: UnsafeBufferPointer<Float>) {
      released += block.count
      if pace == .realtime {
        let deadline = start &+ UInt64(Double(released) / rate * 1e9)
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
    } catch is Stopped {
      return
    }
  }
}
