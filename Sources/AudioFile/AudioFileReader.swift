#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// Reads an audio file in blocks through libsndfile: WAV (PCM 8/16/24/32-bit, float 32/64,
/// WAVE_FORMAT_EXTENSIBLE), FLAC, AIFF, Ogg/Vorbis, and whatever else the installed libsndfile reads.
///
/// Samples come out as interleaved float32, integer formats scaled to [-1, 1) exactly as soundfile
/// does (it is the same library: int16 / 32768, int24 and int32 / 2^31, uint8 (x − 128) / 128).
/// The file is never loaded whole.
public final class AudioFileReader {
  /// The path as given.
  public let path: String
  /// Frames per second.
  public let sampleRate: Int
  /// Samples per frame.
  public let channelCount: Int
  /// Frames the header declares.
  public let frameCount: Int
  /// Container and encoding, e.g. "WAV (Microsoft), Signed 24 bit PCM".
  public let formatName: String
  private let handle: OpaquePointer
  private var framesRead = 0

  /// Opens `path` and checks it holds audio.
  ///
  /// - Throws: ``AudioFileError`` for a missing or unreadable file, one libsndfile does not
  ///   recognise or whose encoding it cannot decode (its message is quoted), or one with no samples.
  public init(path: String) throws(AudioFileError) {
    self.path = path
    var status = stat()
    guard stat(path, &status) == 0 else {
      throw AudioFileError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      throw AudioFileError(path: path, reason: "not a regular file")
    }
    guard status.st_size > 0 else {
      throw AudioFileError(path: path, reason: "empty file (0 bytes), expected audio")
    }
    let opened = SndFileCalls.openForReading(path)
    guard let handle = opened.handle else {
      throw AudioFileError(
        path: path, reason: "not a readable audio file (libsndfile sf_open: \(opened.error))")
    }
    self.handle = handle
    sampleRate = Int(opened.info.samplerate)
    channelCount = Int(opened.info.channels)
    frameCount = Int(opened.info.frames)
    formatName = SndFileCalls.formatName(opened.info.format)
    // libsndfile reads a WAV/AIFF whose data chunk is cut short as a shorter file, and says so
    // only in its log ("data : 32000 (should be 19956)"): that is a truncated file, not a short one.
    // Streaming writers leave 0 or ~2^31/2^32 as a placeholder length: those mean "unknown".
    if let line = SndFileCalls.log(handle).split(separator: "\n").first(where: { line in
      let trimmed = line.drop { $0 == " " }
      guard trimmed.hasPrefix("data") || trimmed.hasPrefix("SSND"), line.contains("should be") else {
        return false
      }
      let declared = trimmed.split(separator: " ").dropFirst(2).first.flatMap { UInt64($0) } ?? 1
      return declared != 0 && declared < 0x7FFF_0000
    }) {
      SndFileCalls.close(handle)
      throw AudioFileError(
        path: path,
        reason:
          "truncated: the audio data chunk is shorter than its header declares (libsndfile: \(line.drop { $0 == " " }))"
      )
    }
    guard frameCount > 0, channelCount > 0, sampleRate > 0 else {
      SndFileCalls.close(handle)
      throw AudioFileError(
        path: path,
        reason: "contains no audio (\(frameCount) frames, \(channelCount) channels at \(sampleRate) Hz)")
    }
  }

  deinit { SndFileCalls.close(handle) }

  /// Reads up to `buffer.count / channelCount` interleaved frames; returns the frames read, 0 at
  /// the end of the file.
  ///
  /// - Throws: ``AudioFileError`` when libsndfile reports a decoding error, or when the file ends
  ///   before the frames its header declares (a truncated file is an error, not a short signal).
  public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioFileError) -> Int {
    let capacity = buffer.count / channelCount
    guard capacity > 0, let base = buffer.baseAddress else { return 0 }
    let frames = SndFileCalls.readFrames(handle, into: base, frames: min(capacity, frameCount - framesRead))
    if let error = SndFileCalls.pendingError(handle) {
      throw AudioFileError(
        path: path, reason: "decoding failed after \(framesRead) frames (libsndfile: \(error))")
    }
    framesRead += frames
    if frames == 0 && framesRead < frameCount {
      throw AudioFileError(
        path: path,
        reason: "truncated: the header declares \(frameCount) frames but only \(framesRead) could be read")
    }
    return frames
  }
}
