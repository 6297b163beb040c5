import CSndFile

/// Every libsndfile call StreamRNN makes lives here, so the C surface is visible in one place.
enum SndFileCalls {
  /// `sf_open` for reading; on failure returns nil and libsndfile's message (`sf_strerror(NULL)`).
  static func openForReading(_ path: String) -> (handle: OpaquePointer?, info: SoundFileInfo, error: String) {
    var info = SF_INFO()
    let handle = sf_open(path, Int32(SFM_READ), &info)
    let error = handle == nil ? String(cString: sf_strerror(nil)) : ""
    return (handle, SoundFileInfo(info), error)
  }

  /// Bytes in memory that libsndfile reads through `SF_VIRTUAL_IO`. Keep it alive until
  /// `sf_close`.
  final class MemoryFile {
    let bytes: [UInt8]
    var position = 0
    init(bytes: [UInt8]) { self.bytes = bytes }
  }

  /// `sf_open_virtual` for reading `file`'s bytes (libsndfile copies the callback table).
  static func openForReading(_ file: MemoryFile) -> (
    handle: OpaquePointer?, info: SoundFileInfo, error: String
  ) {
    func memory(_ user: UnsafeMutableRawPointer?) -> MemoryFile {
      Unmanaged<MemoryFile>.fromOpaque(user!).takeUnretainedValue()
    }
    var io = SF_VIRTUAL_IO(
      get_filelen: { user in sf_count_t(memory(user).bytes.count) },
      seek: { offset, whence, user in
        let file = memory(user)
        let base = whence == SEEK_CUR ? file.position : whence == SEEK_END ? file.bytes.count : 0
        let (target, overflow) = base.addingReportingOverflow(Int(offset))
        guard !overflow, target >= 0 else { return -1 }
        file.position = target
        return sf_count_t(target)
      },
      read: { buffer, count, user in
        let file = memory(user)
        guard let buffer, count > 0, file.position < file.bytes.count else { return 0 }
        let taken = min(Int(count), file.bytes.count - file.position)
        file.bytes.withUnsafeBytes { source in
          buffer.copyMemory(from: source.baseAddress! + file.position, byteCount: taken)
        }
        file.position += taken
        return sf_count_t(taken)
      },
      write: { _, _, _ in 0 },
      tell: { user in sf_count_t(memory(user).position) })
    var info = SF_INFO()
    let handle = sf_open_virtual(&io, Int32(SFM_READ), &info, Unmanaged.passUnretained(file).toOpaque())
    let error = handle == nil ? String(cString: sf_strerror(nil)) : ""
    return (handle, SoundFileInfo(info), error)
  }

  /// `sf_readf_float`: up to `frames` interleaved frames as float, int formats scaled to [-1, 1)
  /// (int16 / 32768 and so on; this is the conversion soundfile uses, since it is libsndfile's).
  static func readFrames(_ handle: OpaquePointer, into buffer: UnsafeMutablePointer<Float>, frames: Int)
    -> Int
  {
    Int(sf_readf_float(handle, buffer, sf_count_t(frames)))
  }

  /// `sf_error` and `sf_strerror` for an open file: nil when there is no error.
  static func pendingError(_ handle: OpaquePointer) -> String? {
    sf_error(handle) == 0 ? nil : String(cString: sf_strerror(handle))
  }

  /// `sf_close`.
  static func close(_ handle: OpaquePointer) {
    sf_close(handle)
  }

  /// libsndfile's parse log for an open file (`SFC_GET_LOG_INFO`).
  static func log(_ handle: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    sf_command(handle, Int32(SFC_GET_LOG_INFO), &buffer, Int32(buffer.count))
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// A readable name for the file's container and encoding (`SFC_GET_FORMAT_INFO`).
  static func formatName(_ format: Int32) -> String {
    func name(_ code: Int32) -> String {
      var info = SF_FORMAT_INFO()
      info.format = code
      guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
        let text = info.name
      else { return String(code, radix: 16) }
      return String(cString: text)
    }
    return name(format & Int32(SF_FORMAT_TYPEMASK)) + ", " + name(format & Int32(SF_FORMAT_SUBMASK))
  }
}

/// The fields of libsndfile's `SF_INFO` that the reader uses, as Swift integers.
struct SoundFileInfo {
  let sampleRate: Int
  let channels: Int
  let frames: Int
  let format: Int32

  init(_ info: SF_INFO) {
    sampleRate = Int(info.samplerate)
    channels = Int(info.channels)
    frames = Int(info.frames)
    format = info.format
  }
}
