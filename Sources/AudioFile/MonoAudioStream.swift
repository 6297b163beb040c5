/// Which channel of a multi-channel file becomes the mono signal.
public enum ChannelSelection: Equatable, Sendable {
  /// The mean of all channels (the default).
  case mean
  /// One channel, 0-based.
  case channel(Int)
}

/// Decodes an audio file into a mono float32 stream at a chosen rate, block by block:
/// libsndfile reads, channels are averaged (or one is picked), libsoxr resamples when the file's
/// rate differs from the target. Equal rates pass samples through untouched.
///
/// May be handed to another thread (a replay opens the file on the main thread, so errors come
/// before any thread starts, and decodes it on the producer thread); use it from one thread at a time.
public final class MonoAudioStream: @unchecked Sendable {
  /// The reader underneath (rate, channels, format of the file).
  public let reader: AudioFileReader
  /// The rate of the emitted samples, in Hz.
  public let outputRate: Int
  private let selection: ChannelSelection
  private let resampler: Resampler?
  private let blockFrames: Int

  /// Opens `path` for decoding to mono at `outputRate` (nil keeps the file's rate).
  public convenience init(
    path: String, outputRate: Int? = nil, channel: ChannelSelection = .mean, blockFrames: Int = 4096
  )
    throws
  {
    try self.init(
      reader: try AudioFileReader(path: path), outputRate: outputRate, channel: channel,
      blockFrames: blockFrames)
  }

  /// Decodes what `reader` reads (a file, or bytes in memory) to mono at `outputRate` (nil keeps
  /// its rate).
  public init(
    reader: AudioFileReader, outputRate: Int? = nil, channel: ChannelSelection = .mean,
    blockFrames: Int = 4096
  ) throws {
    self.reader = reader
    if case .channel(let index) = channel, !(0..<reader.channelCount).contains(index) {
      throw AudioFileError(
        path: reader.path,
        reason:
          "has \(reader.channelCount) channel\(reader.channelCount == 1 ? "" : "s"), no channel \(index) (channels count from 0)"
      )
    }
    self.outputRate = outputRate ?? reader.sampleRate
    selection = channel
    self.blockFrames = blockFrames
    resampler =
      self.outputRate == reader.sampleRate
      ? nil : try Resampler(inputRate: Double(reader.sampleRate), outputRate: Double(self.outputRate))
  }

  /// Decodes the whole file, handing each block of mono samples (any size) to `body` in order.
  public func forEachBlock(_ body: (UnsafeBufferPointer<Float>) throws -> Void) throws {
    let channels = reader.channelCount
    let interleaved = UnsafeMutableBufferPointer<Float>.allocate(capacity: blockFrames * channels)
    let mono = UnsafeMutableBufferPointer<Float>.allocate(capacity: blockFrames)
    defer {
      interleaved.deallocate()
      mono.deallocate()
    }
    while true {
      let frames = try reader.read(into: interleaved)
      if frames == 0 { break }
      switch selection {
      case .channel(let index):
        for frame in 0..<frames { mono[frame] = interleaved[frame * channels + index] }
      case .mean where channels == 1:
        _ = UnsafeMutableBufferPointer(rebasing: mono[0..<frames]).update(from: interleaved[0..<frames])
      case .mean:
        // sum / n, as numpy's mean over the channel axis computes it.
        let count = Float(channels)
        for frame in 0..<frames {
          var sum: Float = 0
          for channel in 0..<channels { sum += interleaved[frame * channels + channel] }
          mono[frame] = sum / count
        }
      }
      let block = UnsafeBufferPointer(rebasing: mono[0..<frames])
      if let resampler { try resampler.process(block, emit: body) } else { try body(block) }
    }
    try resampler?.finish(emit: body)
  }

  /// Decodes the whole file into one array (convenient for tests and short files).
  public func readAll() throws -> [Float] {
    var samples: [Float] = []
    try forEachBlock { samples.append(contentsOf: $0) }
    return samples
  }
}
