/// A libasound failure: the C function, the device, the (negative errno) code and `snd_strerror`'s
/// text, as one line.
public struct ALSAError: Error, Equatable, CustomStringConvertible {
  /// The libasound function that failed, e.g. `snd_pcm_open`.
  public let function: String
  /// The PCM name.
  public let device: String
  /// libasound's return value (a negative errno).
  public let code: Int32
  /// `snd_strerror(code)`, or a description of what was expected.
  public let message: String

  /// One line.
  public var description: String { "ALSA device '\(device)': \(function) failed: \(message) (\(code))" }
}
