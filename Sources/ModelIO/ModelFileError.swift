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

  /// `path: reason`, one line.
  public var description: String { "\(path): \(reason)" }
}
