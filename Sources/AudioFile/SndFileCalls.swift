import CSndFile

/// Every libsndfile call StreamRNN makes lives here, so the C surface is visible in one place.
enum SndFileCalls {
  /// `sf_open` for reading; on failure returns nil and libsndfile's message (`sf_strerror(NULL)`).
  static func openForReading(_ path: String) -> (handle: OpaquePointer?, info: SF_INFO, error: String) {
    var info = SF_INFO()
    let handle = sf_open(path, Int32(SFM_READ), &info)
    let error = handle == nil ? String(cString: sf_strerror(nil)) : ""
    return (handle, info, error)
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
