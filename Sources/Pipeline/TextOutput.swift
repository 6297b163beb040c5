#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `printf`-style formatting through the C library's `vsnprintf` (numbers only: `%d`, `%f`, `%g`,
/// widths and precisions; `%s` and `%@` are not supported, interpolate strings instead).
///
/// The command-line tool formats its tables with this rather than Foundation's
/// `String(format:)`, so that it does not load Foundation and ICU (about 7 MB resident).
/// Allocates: not for the real-time path.
public func formatted(_ format: String, _ arguments: any CVarArg...) -> String {
  withVaList(arguments) { list in
    var buffer = [CChar](repeating: 0, count: 256)
    let needed = Int(vsnprintf(&buffer, buffer.count, format, list))
    guard needed >= buffer.count else {
      return String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
    }
    // Too long for the first buffer: format again into one of the right size.
    return withVaList(arguments) { again in
      var large = [CChar](repeating: 0, count: needed + 1)
      _ = vsnprintf(&large, large.count, format, again)
      return String(decoding: large.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
    }
  }
}

/// Writes `text` to standard error at once (one `write(2)`, unbuffered). I/O: not for the
/// real-time path.
public func writeToStandardError(_ text: String) {
  var text = text
  text.withUTF8 { bytes in
    var rest = UnsafeRawBufferPointer(bytes)
    while !rest.isEmpty {
      let written = write(2, rest.baseAddress, rest.count)
      if written < 0 && errno == EINTR { continue }
      guard written > 0 else { return }  // Nowhere to report a failing stderr.
      rest = UnsafeRawBufferPointer(rebasing: rest[written...])
    }
  }
}

/// `text` padded with spaces on the right to `width` characters (unchanged if already as wide).
public func padded(_ text: String, to width: Int) -> String {
  text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
