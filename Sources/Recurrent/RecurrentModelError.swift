/// Why a set of tensors is not a valid recurrent model. Each case reads as one line naming the
/// tensor (PyTorch `state_dict` name, with any prefix), what it is and what was expected.
public enum RecurrentModelError: Error, Equatable, CustomStringConvertible {
  /// No tensor named `*weight_ih_l0`, so there is no recurrent stack to load.
  case noRecurrentLayers
  /// More than one prefix carries a `weight_ih_l0` (for example `enc.` and `dec.`).
  case ambiguousPrefixes([String])
  /// A tensor the model's structure requires is absent.
  case missingTensor(name: String, expectedShape: [Int])
  /// A tensor that is not part of a recurrent stack plus optional `head`.
  case unexpectedTensor(name: String)
  /// A tensor with the wrong shape; `context` says which sizes the expectation came from.
  case wrongShape(name: String, shape: [Int], expected: [Int], context: String)
  /// A NaN or infinite value at flat index `index`.
  case nonFiniteValue(name: String, index: Int, value: Float)
  /// The cell kind cannot be read off the shapes; `reason` says what to pass.
  case unknownKind(reason: String)
  /// Labels given that do not match the head's outputs.
  case labelCount(labels: Int, outputs: Int)
  /// Anything else that makes the structure inconsistent.
  case inconsistent(String)

  /// The error as one line.
  public var description: String {
    switch self {
    case .noRecurrentLayers:
      return
        "no recurrent layers: expected a tensor named weight_ih_l0 (optionally with a prefix such as rnn.)"
    case .ambiguousPrefixes(let prefixes):
      return
        "several recurrent stacks (prefixes \(prefixes.map { "'\($0)'" }.joined(separator: ", "))); expected one"
    case .missingTensor(let name, let expected):
      return "missing tensor '\(name)' (expected shape \(expected))"
    case .unexpectedTensor(let name):
      return
        "unexpected tensor '\(name)': not part of a GRU/LSTM/RNN stack or its head (head.weight, head.bias)"
    case .wrongShape(let name, let shape, let expected, let context):
      return "tensor '\(name)' has shape \(shape), expected \(expected) (\(context))"
    case .nonFiniteValue(let name, let index, let value):
      return "tensor '\(name)' holds \(value) at flat index \(index); weights must be finite"
    case .unknownKind(let reason):
      return "cannot tell the cell kind: \(reason)"
    case .labelCount(let labels, let outputs):
      return "\(labels) labels for \(outputs) head outputs"
    case .inconsistent(let message):
      return message
    }
  }
}
