/// An audio file that cannot be read as audio: one line naming the file, what went wrong and, where
/// a C library reported it, that library's function and message.
public struct AudioFileError: Error, Equatable, CustomStringConvertible {
  /// The file as given.
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

/// A libsoxr failure: the C function and libsoxr's message.
public struct ResamplerError: Error, Equatable, CustomStringConvertible {
  /// The libsoxr function that failed, e.g. `soxr_create`.
  public let function: String
  /// libsoxr's error text.
  public let message: String

  /// One line: function and message.
  public var description: String { "resampler: \(function) failed: \(message)" }
}
