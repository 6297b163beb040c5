/// Why a stream could not be set up or run. Messages are one line and name the library's
/// parameters, not any command-line flag (the CLI maps them to its own).
public enum StreamError: Error, Equatable, CustomStringConvertible {
  /// The model's input size differs from the features' frame size.
  case inputSizeMismatch(modelInputs: Int, featureCount: Int)
  /// The source delivers another rate than the features expect.
  case sampleRateMismatch(source: Int, features: Int)
  /// A stream option out of its range: the option's name, its value and the allowed range.
  case invalidOption(name: String, value: String, allowed: String)
  /// A model output named by an observer does not exist.
  case missingLabel(String, labels: [String])
  /// Observers emit events but the sink cannot write them.
  case sinkTakesNoEvents
  /// A thread could not be started: the function and its error number.
  case threadFailed(function: String, code: Int32)
  /// A sink could not write: the path or stream and the system's reason.
  case sinkFailed(String)
  /// The model cannot run one frame at a time (a bidirectional layer needs the future).
  case modelCannotStream(String)

  /// One line.
  public var description: String {
    switch self {
    case .inputSizeMismatch(let inputs, let features):
      "the model takes \(inputs) inputs per frame but the features give \(features)"
    case .sampleRateMismatch(let source, let features):
      "the source delivers \(source) Hz but the features expect \(features) Hz"
    case .invalidOption(let name, let value, let allowed): "\(name) \(value) is out of range: \(allowed)"
    case .missingLabel(let label, let labels):
      labels.isEmpty
        ? "the model's outputs have no labels, so none is '\(label)'"
        : "the model has no output labelled '\(label)' (its labels: \(labels.joined(separator: ", ")))"
    case .sinkTakesNoEvents: "this record format cannot hold events (speech segments); use JSON Lines"
    case .threadFailed(let function, let code): "\(function) failed: error \(code)"
    case .sinkFailed(let message): message
    case .modelCannotStream(let reason): "the model cannot stream: \(reason)"
    }
  }
}
