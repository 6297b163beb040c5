/// A file that could not be read as what it should be. `description` is one line naming the file,
/// what is wrong and what was expected; the CLI prints it and exits non-zero.
public struct ModelFileError: Error, Equatable, CustomStringConvertible {
  /// The file's path as given.
  public let path: String
  /// What is wrong, without the path.
  public let reason: String

  /// Pairs a path with a one-line reason.
  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }

  /// `path: reason`, one line: control characters shown as `?`, the path cut at 200 characters and
  /// the reason at 300, whatever a hostile file put into them.
  public var description: String { "\(printable(path, limit: 200)): \(printable(reason, limit: 300))" }
}

/// `text` as it may appear inside an error line: control characters and invalid bytes shown as
/// `?`, and cut to `limit` characters with "…". A hostile file's names and values never reach the
/// terminal raw, never split a line and never make a message long.
public func printable(_ text: some StringProtocol, limit: Int = 60) -> String {
  var result = ""
  var count = 0
  for scalar in text.unicodeScalars {
    if count == limit {
      result += "…"
      break
    }
    let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{FFFD}"
    result.unicodeScalars.append(isControl ? "?" : scalar)
    count += 1
  }
  return result
}
