import AudioFile
import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Live audio from an ALSA capture PCM: a ``FrameSource`` that drops and counts when the stream
/// falls behind.
///
/// ``open(device:rate:periodFrames:)`` negotiates S16_LE, S32_LE or FLOAT_LE, mono if the device
/// allows (several channels are averaged), the feature rate if the device runs it (else the
/// device's rate, resampled with libsoxr on the capture thread), and a period near the request
/// with a buffer of 8 periods. ``run(into:)`` asks for real-time (SCHED_FIFO) priority for the
/// capture thread (a refusal becomes a ``notices`` line) and then reads one period at a time
/// with blocking `snd_pcm_readi` on the calling (capture) thread:
/// - an overrun (-EPIPE) is counted, recovered with `snd_pcm_recover`, and the next frame is marked
///   as following a discontinuity; a suspend (-ESTRPIPE) is resumed the same way;
/// - any other error (the device went away: -ENODEV, -EIO…) ends the run with an ``ALSAError``.
/// Each block's capture time is the monotonic clock when `snd_pcm_readi` returned, less the frames
/// already waiting behind it (when `snd_pcm_avail` gives a believable count).
///
/// The read loop does not allocate, lock or log (buffers are allocated in `open`); with a
/// resampler, libsoxr's own allocations are not under our control.
public final class ALSACaptureSource: FrameSource, @unchecked Sendable {
  /// The PCM name as given.
  public let device: String
  /// The device's rate, Hz.
  public let deviceRate: Int
  /// The rate frames are computed at, Hz.
  public let outputRate: Int
  /// Channels the device delivers (averaged to mono).
  public let channels: Int
  /// Frames per read.
  public let periodFrames: Int
  /// Frames the device buffers.
  public let bufferFrames: Int
  /// The negotiated sample format, e.g. "S16_LE".
  public let formatName: String
  /// Test hook: before each read, how many milliseconds to stop reading (given the period number;
  /// provokes overruns on a clocked device). Nil in production.
  package var stallBeforePeriod: (@Sendable (Int) -> Int)?
  /// Test hook: calls `start` on the capture thread after this many periods and `stop` when the
  /// loop ends (an allocation counter). Nil in production.
  package var countAllocations: (afterPeriods: Int, start: () -> Void, stop: () -> Void)?
  /// Whether ``run(into:)`` asks for SCHED_FIFO priority (default true).
  public var requestsRealTimePriority = true
  private let notice = Mutex<String?>(nil)

  private let pcm: OpaquePointer
  private let format: ALSACalls.SampleFormat
  /// `[periodFrames × channels]` raw samples.
  private let raw: UnsafeMutableRawPointer
  /// `[periodFrames]` mono float samples.
  private let mono: UnsafeMutablePointer<Float>
  private let resampler: Resampler?

  /// Opens and configures the device.
  ///
  /// - Parameters:
  ///   - rate: The feature rate; the device is asked for it.
  ///   - periodFrames: Frames per read at `rate` (one feature hop by default); scaled to the
  ///     device's rate if it differs.
  /// - Throws: ``ALSAError`` naming the device and the failing libasound function.
  public static func open(device: String, rate: Int, periodFrames: Int) throws -> ALSACaptureSource {
    ALSACalls.silenceErrors()
    let pcm = try ALSACalls.openCapture(device).get()
    let configuration: ALSACalls.Configuration
    do {
      configuration = try ALSACalls.configure(
        pcm, device: device, rate: rate, channels: 1, periodFrames: periodFrames, periods: 8
      ).get()
      if configuration.rate != rate {
        // Re-ask for a period of the same duration at the device's rate.
        ALSACalls.close(pcm)
        let reopened = try ALSACalls.openCapture(device).get()
        let scaled = max(1, periodFrames * configuration.rate / rate)
        let again = try ALSACalls.configure(
          reopened, device: device, rate: configuration.rate, channels: 1, periodFrames: scaled, periods: 8
        ).get()
        return try ALSACaptureSource(device: device, pcm: reopened, configuration: again, outputRate: rate)
      }
    } catch {
      ALSACalls.close(pcm)
      throw error
    }
    return try ALSACaptureSource(device: device, pcm: pcm, configuration: configuration, outputRate: rate)
  }

  private init(device: String, pcm: OpaquePointer, configuration: ALSACalls.Configuration, outputRate: Int)
    throws
  {
    self.device = device
    self.pcm = pcm
    format = configuration.format
    formatName = configuration.format.name
    deviceRate = configuration.rate
    self.outputRate = outputRate
    channels = configuration.channels
    periodFrames = configuration.periodFrames
    bufferFrames = configuration.bufferFrames
    raw = .allocate(byteCount: periodFrames * channels * format.bytes, alignment: 16)
    mono = .allocate(capacity: periodFrames)
    mono.initialize(repeating: 0, count: periodFrames)
    resampler =
      configuration.rate == outputRate
      ? nil : try Resampler(inputRate: Double(configuration.rate), outputRate: Double(outputRate))
  }

  deinit {
    ALSACalls.close(pcm)
    raw.deallocate()
    mono.deallocate()
  }

  /// Lists capture PCMs (name, description), as `arecord -L` does.
  public static func devices() throws -> [(name: String, description: String)] {
    ALSACalls.silenceErrors()
    return try ALSACalls.captureDevices().get()
  }

  /// Clock sanity window: every 2 s of the monotonic clock, the audio delivered in it is compared
  /// with the time that passed.
  static let clockWindowNanoseconds: UInt64 = 2_000_000_000
  /// Audio seconds per clock second that a working device delivers: a window outside it (a device
  /// that runs 20 % fast or slow, or a FIFO read with the wrong period that returns at once) marks
  /// the frames after it as `clockSuspect` and counts in `StreamCounters.clockSuspectWindows`.
  static let believableRates = 0.8...1.25

  /// Captured audio arrives whether or not the model keeps up: a full ring drops and counts.
  public var overflow: OverflowPolicy { .dropAndCount }

  /// The rate frames are computed at (``outputRate``), Hz.
  public var sampleRate: Int { outputRate }

  /// A line when real-time priority was refused during the last run.
  public var notices: [String] { notice.withLock { $0.map { [$0] } ?? [] } }

  /// Asks for real-time (SCHED_FIFO) priority for the calling thread; returns a one-line notice
  /// when it is not permitted, nil when granted.
  public static func requestRealTimePriority() -> String? {
    var parameters = sched_param()
    parameters.sched_priority = 20
    let code = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters)
    if code == 0 { return nil }
    return
      "capture thread runs at normal priority (SCHED_FIFO not permitted: \(String(cString: strerror(code))))"
  }

  /// Reads until a stop is requested or the device fails, feeding `producer`. Capture thread.
  /// - Throws: ``ALSAError`` when the device fails in a way that cannot be recovered.
  public func run(into producer: FrameProducer) throws {
    if requestsRealTimePriority {
      let refused = Self.requestRealTimePriority()
      notice.withLock { $0 = refused }
    }
    let control = producer.control
    let counters = producer.counters
    var discontinuity = false
    var periods = 0
    // Clock sanity: audio delivered per second of the monotonic clock, over windows of 2 s.
    var windowStart: UInt64 = 0
    var windowFrames = 0
    var clockSuspect = false
    // Lost audio: from the end of the last good block's audio (its read time less the frames
    // already waiting behind it, which recovery throws away) to the start of the first good
    // block's audio after the overrun (its read time less its own frames and those behind it).
    var lastAudioEnd: UInt64 = 0
    var gapSince: UInt64 = 0
    defer { countAllocations?.stop() }
    while !control.isStopRequested {
      if let stallBeforePeriod {
        let milliseconds = stallBeforePeriod(periods)
        if milliseconds > 0 { usleep(UInt32(milliseconds * 1000)) }
      }
      if let countAllocations, periods == countAllocations.afterPeriods { countAllocations.start() }
      periods += 1
      let result = ALSACalls.read(pcm, raw, frames: periodFrames)
      let readTime = monotonicNow()
      if result < 0 {
        let code = Int32(result)
        if code == -EPIPE || code == -ESTRPIPE {
          counters.xruns.add(code == -EPIPE ? 1 : 0, ordering: .relaxed)
          counters.suspends.add(code == -ESTRPIPE ? 1 : 0, ordering: .relaxed)
          discontinuity = true
          windowStart = 0
          if gapSince == 0 { gapSince = lastAudioEnd }
          if code == -ESTRPIPE {
            var resumed = ALSACalls.resume(pcm)
            while resumed == -EAGAIN && !control.isStopRequested {
              usleep(10_000)
              resumed = ALSACalls.resume(pcm)
            }
            if resumed < 0 {
              let prepared = ALSACalls.prepare(pcm)
              if prepared < 0 { throw ALSACalls.error("snd_pcm_prepare", device, prepared) }
            }
            continue
          }
          let recovered = ALSACalls.recover(pcm, code)
          if recovered < 0 { throw ALSACalls.error("snd_pcm_recover", device, recovered) }
          continue
        }
        if code == -EAGAIN || code == -EINTR { continue }
        throw ALSACalls.error("snd_pcm_readi", device, code)
      }
      let frames = result
      // Frames already waiting behind this block arrived after its last sample.
      let waiting = ALSACalls.available(pcm)
      let behind = waiting > 0 && waiting < bufferFrames ? UInt64(waiting) : 0
      let captureTime = readTime &- behind &* 1_000_000_000 / UInt64(deviceRate)
      if gapSince != 0 {
        // Everything between the end of the last good block's audio and the start of this one's
        // was lost (the audio buffered at the overrun included: recovery drops it).
        let span = Double(captureTime &- gapSince) * Double(deviceRate) / 1e9 - Double(frames)
        let lost = max(0, Int(span.rounded())) * outputRate / deviceRate
        counters.lostSamples.add(lost, ordering: .relaxed)
        gapSince = 0
      }
      lastAudioEnd = captureTime
      if windowStart == 0 {
        windowStart = readTime
        windowFrames = 0
      } else {
        windowFrames += frames
        let elapsed = readTime &- windowStart
        if elapsed >= Self.clockWindowNanoseconds {
          let ratio = Double(windowFrames) * 1e9 / Double(deviceRate) / Double(elapsed)
          clockSuspect = !Self.believableRates.contains(ratio)
          counters.clockSuspectWindows.add(clockSuspect ? 1 : 0, ordering: .relaxed)
          windowStart = readTime
          windowFrames = 0
        }
      }
      convertToMono(frames: frames)
      let block = UnsafeBufferPointer(start: mono, count: frames)
      if let resampler {
        let gap = discontinuity
        let suspect = clockSuspect
        try resampler.process(block) {
          producer.push($0, captureTime: captureTime, discontinuity: gap, clockSuspect: suspect)
        }
      } else {
        producer.push(
          block, captureTime: captureTime, discontinuity: discontinuity, clockSuspect: clockSuspect)
      }
      discontinuity = false
    }
  }

  /// Interleaved device samples → mono float in [-1, 1) (the mean of the channels).
  private func convertToMono(frames: Int) {
    let scale: Float
    switch format {
    case .s16:
      scale = 1 / 32768
      let samples = raw.assumingMemoryBound(to: Int16.self)
      for frame in 0..<frames { mono[frame] = mean(frame) { Float(samples[$0]) } * scale }
    case .s32:
      scale = 1 / 2_147_483_648
      let samples = raw.assumingMemoryBound(to: Int32.self)
      for frame in 0..<frames { mono[frame] = mean(frame) { Float(samples[$0]) } * scale }
    case .float32:
      let samples = raw.assumingMemoryBound(to: Float.self)
      for frame in 0..<frames { mono[frame] = mean(frame) { samples[$0] } }
    }
  }

  @inline(__always)
  private func mean(_ frame: Int, _ sample: (Int) -> Float) -> Float {
    if channels == 1 { return sample(frame) }
    var sum: Float = 0
    for channel in 0..<channels { sum += sample(frame * channels + channel) }
    return sum / Float(channels)
  }
}
