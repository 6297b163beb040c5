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
    guard Self.sampleRates.contains(sampleRate) else {
      SndFileCalls.close(handle)
      throw AudioFileError(
        path: path,
        reason:
          "sample rate \(sampleRate) Hz is out of range: allowed \(Self.sampleRates.lowerBound) to \(Self.sampleRates.upperBound) Hz"
      )
    }
    guard Self.channelCounts.contains(channelCount) else {
      SndFileCalls.close(handle)
      throw AudioFileError(
        path: path,
        reason: "\(channelCount) channels is out of range: allowed 1 to \(Self.channelCounts.upperBound)")
    }
    if let problem = Self.waveSampleSizeProblem(path: path) {
      SndFileCalls.close(handle)
      throw AudioFileError(path: path, reason: problem)
    }
  }

  /// Rates a file may declare, Hz: anything outside is corrupt or not audio for us, and would give
  /// the resampler an absurd ratio.
  public static let sampleRates = 1000...384_000
  /// Channel counts a file may declare.
  public static let channelCounts = 1...256

  /// For a RIFF/WAVE file, the `fmt ` chunk's bits per sample must be what the format code allows
  /// (PCM: 8, 16, 24 or 32; IEEE float: 32 or 64; extensible: a whole number of bytes up to 64):
  /// libsndfile rounds other values (7, 33) to a byte size and decodes garbage. Nil when fine or
  /// not a WAV file.
  static func waveSampleSizeProblem(path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var header = [UInt8](repeating: 0, count: 12)
    guard fread(&header, 1, 12, file) == 12, header[0..<4].elementsEqual("RIFF".utf8),
      header[8..<12].elementsEqual("WAVE".utf8)
    else { return nil }
    // Walk the chunks (at most 64) to "fmt ".
    for _ in 0..<64 {
      var chunk = [UInt8](repeating: 0, count: 8)
      guard fread(&chunk, 1, 8, file) == 8 else { return nil }
      let size = Int(chunk[4]) | Int(chunk[5]) << 8 | Int(chunk[6]) << 16 | Int(chunk[7]) << 24
      guard chunk[0..<4].elementsEqual("fmt ".utf8) else {
        guard fseek(file, size + (size & 1), SEEK_CUR) == 0 else { return nil }
        continue
      }
      var format = [UInt8](repeating: 0, count: 16)
      guard size >= 16, fread(&format, 1, 16, file) == 16 else { return nil }
      let code = Int(format[0]) | Int(format[1]) << 8
      let bits = Int(format[14]) | Int(format[15]) << 8
      let allowed: Set<Int> =
        switch code {
        case 1: [8, 16, 24, 32]
        case 3: [32, 64]
        case 0xFFFE: [8, 16, 24, 32, 40, 48, 56, 64]
        default: []
        }
      guard allowed.isEmpty || allowed.contains(bits) else {
        return
          "WAV format \(code) declares \(bits) bits per sample: allowed \(allowed.sorted().map(String.init).joined(separator: ", "))"
      }
      return nil
    }
    return nil
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
