#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Whole-file reads and atomic writes through the C library, so failures carry `strerror` text.
package enum FileBytes {
  /// Reads the whole file at `path`.
  package static func read(_ path: String) throws(ModelFileError) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
      throw ModelFileError(path: path, reason: "cannot open: \(errorText(errno))")
    }
    defer { fclose(file) }
    var status = stat()
    guard fstat(fileno(file), &status) == 0 else {
      throw ModelFileError(path: path, reason: "cannot stat: \(errorText(errno))")
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      throw ModelFileError(path: path, reason: "not a regular file")
    }
    let size = Int(status.st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    let readCount = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, file) }
    guard readCount == size else {
      throw ModelFileError(
        path: path,
        reason: "read \(readCount) of \(size) bytes: \(errorText(ferror(file) != 0 ? errno : EIO))")
    }
    return bytes
  }

  /// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so readers never
  /// see a partial file and a failed write leaves any previous file intact.
  static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ModelFileError) {
    let temporary = path + ".partial-\(getpid())"
    guard let file = fopen(temporary, "wb") else {
      throw ModelFileError(path: path, reason: "cannot create \(temporary): \(errorText(errno))")
    }
    let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, file) }
    let flushed = fflush(file) == 0
    let writeErrno = errno
    fclose(file)
    guard written == bytes.count, flushed else {
      unlink(temporary)
      throw ModelFileError(path: path, reason: "cannot write: \(errorText(writeErrno))")
    }
    guard rename(temporary, path) == 0 else {
      let renameErrno = errno
      unlink(temporary)
      throw ModelFileError(
        path: path, reason: "cannot rename \(temporary) into place: \(errorText(renameErrno))")
    }
  }

  static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
