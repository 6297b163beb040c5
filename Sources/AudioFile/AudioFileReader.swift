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
  /// The bytes behind a reader opened from memory (libsndfile reads them until `sf_close`).
  private let memory: SndFileCalls.MemoryFile?
  private var framesRead = 0

  /// Opens `path` and checks it holds audio.
  ///
  /// - Throws: ``AudioFileError`` for a missing or unreadable file, one libsndfile does not
  ///   recognise or whose encoding it cannot decode (its message is quoted), or one with no samples.
  public convenience init(path: String) throws(AudioFileError) {
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
    let header = Self.headerBytes(path: path)
    try self.init(opened: opened, name: path, memory: nil, header: header)
  }

  /// Reads an audio file held in memory (a network upload, a fuzzer's input) through libsndfile's
  /// virtual I/O, with the same checks as a file; `name` names it in errors.
  public convenience init(bytes: [UInt8], name: String) throws(AudioFileError) {
    guard !bytes.isEmpty else {
      throw AudioFileError(path: name, reason: "empty file (0 bytes), expected audio")
    }
    let memory = SndFileCalls.MemoryFile(bytes: bytes)
    let opened = SndFileCalls.openForReading(memory)
    try self.init(opened: opened, name: name, memory: memory, header: Array(bytes.prefix(4096)))
  }

  private init(
    opened: (handle: OpaquePointer?, info: SoundFileInfo, error: String), name path: String,
    memory: SndFileCalls.MemoryFile?, header: [UInt8]
  ) throws(AudioFileError) {
    self.path = path
    self.memory = memory
    guard let handle = opened.handle else {
      throw AudioFileError(
        path: path, reason: "not a readable audio file (libsndfile sf_open: \(opened.error))")
    }
    // Every check runs before the stored properties are set: a throw after that would also run
    // deinit, which closes the handle a second time (a double free inside libsndfile, found by
    // FuzzAudio). Here the handle is closed exactly once, by `rejecting`.
    let sampleRate = opened.info.sampleRate
    let channelCount = opened.info.channels
    let frameCount = opened.info.frames
    func rejecting(_ reason: String) -> AudioFileError {
      SndFileCalls.close(handle)
      return AudioFileError(path: path, reason: reason)
    }
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
      throw rejecting(
        "truncated: the audio data chunk is shorter than its header declares (libsndfile: \(line.drop { $0 == " " }))"
      )
    }
    guard frameCount > 0, channelCount > 0, sampleRate > 0 else {
      throw rejecting(
        "contains no audio (\(frameCount) frames, \(channelCount) channels at \(sampleRate) Hz)")
    }
    guard Self.sampleRates.contains(sampleRate) else {
      throw rejecting(
        "sample rate \(sampleRate) Hz is out of range: allowed \(Self.sampleRates.lowerBound) to \(Self.sampleRates.upperBound) Hz"
      )
    }
    guard Self.channelCounts.contains(channelCount) else {
      throw rejecting(
        "\(channelCount) channels is out of range: allowed 1 to \(Self.channelCounts.upperBound)")
    }
    if let problem = Self.waveSampleSizeProblem(header) {
      throw rejecting(problem)
    }
    self.handle = handle
    self.sampleRate = sampleRate
    self.channelCount = channelCount
    self.frameCount = frameCount
    formatName = SndFileCalls.formatName(opened.info.format)
  }

  /// Rates a file may declare, Hz: anything outside is corrupt or not audio for us, and would give
  /// the resampler an absurd ratio.
  public static let sampleRates = 1000...384_000
  /// Channel counts a file may declare.
  public static let channelCounts = 1...256

  /// The first 4 KiB of the file at `path` (where a WAV's `fmt ` chunk is).
  static func headerBytes(path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { return [] }
    defer { fclose(file) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = fread(&bytes, 1, bytes.count, file)
    return Array(bytes.prefix(count))
  }

  /// For a RIFF/WAVE file, the `fmt ` chunk's bits per sample must be what the format code allows
  /// (PCM: 8, 16, 24 or 32; IEEE float: 32 or 64; extensible: a whole number of bytes up to 64):
  /// libsndfile rounds other values (7, 33) to a byte size and decodes garbage. Nil when fine, not
  /// a WAV file, or the chunk is not within `header` (the file's first bytes).
  static func waveSampleSizeProblem(_ header: [UInt8]) -> String? {
    func little(_ offset: Int, _ count: Int) -> Int? {
      guard offset >= 0, offset + count <= header.count else { return nil }
      return (0..<count).reduce(0) { $0 | Int(header[offset + $1]) << (8 * $1) }
    }
    guard header.count >= 12, header[0..<4].elementsEqual("RIFF".utf8),
      header[8..<12].elementsEqual("WAVE".utf8)
    else { return nil }
    var offset = 12
    while let size = little(offset + 4, 4) {
      guard header[offset..<(offset + 4)].elementsEqual("fmt ".utf8) else {
        offset += 8 + size + (size & 1)
        continue
      }
      guard size >= 16, let code = little(offset + 8, 2), let bits = little(offset + 22, 2) else {
        return nil
      }
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
