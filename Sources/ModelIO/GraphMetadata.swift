import Layers
import Recurrent

/// Reads a model's `graph` metadata: the ordered chain of layers (``LayerChain``) with each layer's
/// kind, options and tensor names. Schema version 1:
///
/// ```json
/// {"version": 1, "output_activation": "softmax" | "sigmoid" | "none",
///  "layers": [
///   {"type": "affine", "scale": T, "shift": T},
///   {"type": "normalize", "mean": T, "std": T},                        (x − mean) / std
///   {"type": "batchnorm", "weight": T, "bias": T, "mean": T, "var": T, "eps": 1e-5},
///   {"type": "linear", "weight": T, "bias": T},                        bias optional
///   {"type": "conv1d", "weight": T, "bias": T, "dilation": 1, "groups": 1,
///    "padding": "causal" | "centred"},                                   centred: lookahead (k−1)·d/2
///   {"type": "layernorm", "weight": T, "bias": T, "eps": 1e-5},         weight, bias optional
///   {"type": "activation", "function": NAME, …its options},
///   {"type": "gru" | "lstm" | "rnn_tanh" | "rnn_relu", "prefix": "rnn.", "h0": T, "c0": T},
///                                                                      h0, c0 optional starting state
///   {"type": "gru_textbook", "weight_ih": T, "weight_hh": T, "bias_ih": T, "bias_hh": T,
///    "update": "z_keeps_state" | "z_takes_candidate"},                 gate blocks r | z | n
///   {"type": "frame_stack", "frames": 3, "size": 40},                 size (features in) optional
///   {"type": "subsample", "every": 2, "size": 40},                      except on a first layer
///   {"type": "dropout"}                                                the identity
///  ]}
/// ```
///
/// `T` names a tensor in the file, in PyTorch's layout (`weight` `[out, in]` for linear,
/// `[out, in/groups, k]` for conv1d). A recurrent layer takes the PyTorch tensors under its
/// `prefix` (`rnn.weight_ih_l0`, …). Activation functions and options: `relu`, `leaky_relu`
/// (`negative_slope`, default 0.01), `prelu` (`weight`: T), `elu` (`alpha`, 1), `gelu`
/// (`approximate`: `none` | `tanh`), `silu`, `tanh`, `sigmoid`, `hardtanh` (`min_val` −1,
/// `max_val` 1), `relu6`, `softplus` (`beta` 1, `threshold` 20). Strict: an unknown key or type, a
/// missing tensor, a tensor no layer uses, shapes that do not chain — each is one line naming the
/// layer.
public enum GraphMetadata {
  /// The schema versions this reader knows.
  public static let versions = 1...1

  /// Builds the chain; `path` names the file in errors.
  public static func parse(
    _ text: String, tensors: [String: FloatTensor], labels: [String]?, path: String,
    kernel: RecurrentKernel = .preferred, weightStorage: WeightStorage = .float32
  ) throws(ModelFileError) -> LayerChain {
    let graph = try layers(text, tensors: tensors, path: path, kernel: kernel, weightStorage: weightStorage)
    do {
      return try LayerChain(
        layers: graph.layers, headActivation: graph.outputActivation, labels: labels, kernel: kernel,
        initialStates: graph.starts)
    } catch {
      throw ModelFileError(path: path, reason: "graph: " + error.description)
    }
  }

  /// Builds the chain for offline use: like ``parse(_:tensors:labels:path:kernel:weightStorage:)``,
  /// and bidirectional recurrent layers are allowed (``OfflineChain``).
  public static func parseOffline(
    _ text: String, tensors: [String: FloatTensor], labels: [String]?, path: String,
    kernel: RecurrentKernel = .preferred, weightStorage: WeightStorage = .float32
  ) throws(ModelFileError) -> OfflineChain {
    let graph = try layers(text, tensors: tensors, path: path, kernel: kernel, weightStorage: weightStorage)
    do {
      return try OfflineChain(
        layers: graph.layers, headActivation: graph.outputActivation, labels: labels, kernel: kernel,
        initialStates: graph.starts)
    } catch {
      throw ModelFileError(path: path, reason: "graph: " + error.description)
    }
  }

  /// The layers, output activation and starting states the text describes, every tensor checked.
  static func layers(
    _ text: String, tensors: [String: FloatTensor], path: String, kernel: RecurrentKernel,
    weightStorage: WeightStorage
  ) throws(ModelFileError) -> (
    layers: [Layer], outputActivation: HeadActivation, starts: [Int: RecurrentInitialState]
  ) {
    func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: "graph: " + reason) }
    guard let fields = JSONValue.parse(text)?.object else { throw fail("metadata is not a JSON object") }
    guard let version = fields["version"]?.integer, versions.contains(version) else {
      throw fail("'version' must be \(versions.upperBound)")
    }
    if let stray = Set(fields.keys).subtracting(["version", "layers", "output_activation"]).sorted().first {
      throw fail("unknown key '\(printable(stray))'")
    }
    let activationName = fields["output_activation"]?.string ?? "none"
    guard let outputActivation = HeadActivation(rawValue: activationName) else {
      throw fail("output_activation '\(printable(activationName))' is not softmax, sigmoid or none")
    }
    guard let entries = fields["layers"]?.array, !entries.isEmpty, entries.count <= 256 else {
      throw fail("'layers' must be a list of 1 to 256 layers")
    }
    var used: Set<String> = []
    var layers: [Layer] = []
    var starts: [Int: RecurrentInitialState] = [:]
    var width: Int?
    for (index, entry) in entries.enumerated() {
      guard let layer = entry.object, let type = layer["type"]?.string else {
        throw fail("layer \(index) is not an object with a 'type'")
      }
      let reader = LayerReader(
        index: index, type: type, fields: layer, tensors: tensors, path: path)
      let parsed = try reader.read(inputWidth: width, kernel: kernel, weightStorage: weightStorage)
      used.formUnion(reader.usedTensors(parsed.names))
      if let start = try reader.initialState() {
        starts[layers.count] = start.state
        used.formUnion(start.names)
      }
      if let made = parsed.layer {
        layers.append(made)
        width = made.outputSize
      }
    }
    if let stray = Set(tensors.keys).subtracting(used).filter({ !$0.hasPrefix("frontend.") }).sorted().first {
      throw fail("tensor '\(printable(stray))' is used by no layer")
    }
    return (layers, outputActivation, starts)
  }
}

/// One layer's entry: its options and tensors, checked strictly.
private struct LayerReader {
  let index: Int
  let type: String
  let fields: [String: JSONValue]
  let tensors: [String: FloatTensor]
  let path: String

  func fail(_ reason: String) -> ModelFileError {
    ModelFileError(path: path, reason: "graph: layer \(index) (\(printable(type))): \(reason)")
  }

  /// The tensor named by option `key`, with `rank` dimensions.
  func tensor(_ key: String, rank: Int? = nil) throws(ModelFileError) -> (name: String, tensor: FloatTensor) {
    guard let name = fields[key]?.string else { throw fail("'\(key)' must name a tensor") }
    guard let tensor = tensors[name] else { throw fail("tensor '\(printable(name))' is not in the file") }
    if let rank, tensor.shape.count != rank {
      throw fail("tensor '\(printable(name))' has shape \(tensor.shape), expected \(rank) dimensions")
    }
    return (name, tensor)
  }

  func optionalTensor(_ key: String, rank: Int) throws(ModelFileError) -> (name: String, tensor: FloatTensor)?
  {
    fields[key] == nil || fields[key] == .null ? nil : try tensor(key, rank: rank)
  }

  func number(_ key: String, default value: Double, _ range: ClosedRange<Double>) throws(ModelFileError)
    -> Double
  {
    guard let raw = fields[key], raw != .null else { return value }
    guard let number = raw.number, range.contains(number) else {
      throw fail("'\(key)' must be a number from \(range.lowerBound) to \(range.upperBound)")
    }
    return number
  }

  func integer(_ key: String, default value: Int, _ range: ClosedRange<Int>) throws(ModelFileError) -> Int {
    guard let raw = fields[key], raw != .null else { return value }
    guard let number = raw.integer, range.contains(number) else {
      throw fail("'\(key)' must be an integer from \(range.lowerBound) to \(range.upperBound)")
    }
    return number
  }

  func allow(_ keys: Set<String>) throws(ModelFileError) {
    if let stray = Set(fields.keys).subtracting(keys.union(["type"])).sorted().first {
      throw fail("unknown key '\(printable(stray))'")
    }
  }

  func usedTensors(_ names: [String]) -> [String] { names }

  /// A recurrent layer's `h0` (and `c0`) tensors, when the entry names them.
  func initialState() throws(ModelFileError) -> (state: RecurrentInitialState, names: [String])? {
    guard ["gru", "lstm", "rnn_tanh", "rnn_relu"].contains(type), fields["h0"] != nil || fields["c0"] != nil
    else {
      return nil
    }
    guard fields["h0"] != nil else { throw fail("'c0' needs 'h0'") }
    let h = try tensor("h0")
    let c = fields["c0"] == nil ? nil : try tensor("c0")
    return (
      RecurrentInitialState(h: h.tensor.values, c: c?.tensor.values), [h.name] + [c?.name].compactMap { $0 }
    )
  }

  /// The layer (nil for dropout) and the tensors it used.
  func read(inputWidth: Int?, kernel: RecurrentKernel, weightStorage: WeightStorage) throws(ModelFileError)
    -> (layer: Layer?, names: [String])
  {
    do {
      switch type {
      case "dropout":
        try allow(["p"])
        return (nil, [])
      case "affine":
        try allow(["scale", "shift"])
        let scale = try tensor("scale", rank: 1)
        let shift = try tensor("shift", rank: 1)
        return (.affine(scale: scale.tensor.values, shift: shift.tensor.values), [scale.name, shift.name])
      case "normalize":
        try allow(["mean", "std"])
        let mean = try tensor("mean", rank: 1)
        let std = try tensor("std", rank: 1)
        guard std.tensor.values.allSatisfy({ $0 != 0 }) else { throw fail("'std' holds a zero") }
        let scale = std.tensor.values.map { 1 / $0 }
        let shift = zip(mean.tensor.values, scale).map { -$0 * $1 }
        return (.affine(scale: scale, shift: shift), [mean.name, std.name])
      case "batchnorm":
        try allow(["weight", "bias", "mean", "var", "eps"])
        let mean = try tensor("mean", rank: 1)
        let variance = try tensor("var", rank: 1)
        let gamma = try optionalTensor("weight", rank: 1)
        let beta = try optionalTensor("bias", rank: 1)
        let epsilon = try number("eps", default: 1e-5, 0...1)
        let count = mean.tensor.values.count
        guard variance.tensor.values.count == count, gamma.map({ $0.tensor.values.count == count }) ?? true,
          beta.map({ $0.tensor.values.count == count }) ?? true,
          variance.tensor.values.allSatisfy({ $0 >= 0 })
        else { throw fail("mean, var, weight and bias must have one value per feature, var ≥ 0") }
        // Eval mode: y = (x − mean) / √(var + ε) · γ + β, folded into one multiply-add per feature.
        var scale = [Float](repeating: 0, count: count)
        var shift = [Float](repeating: 0, count: count)
        for feature in 0..<count {
          let inverse = 1 / (Double(variance.tensor.values[feature]) + epsilon).squareRoot()
          let g = Double(gamma?.tensor.values[feature] ?? 1)
          scale[feature] = Float(g * inverse)
          shift[feature] = Float(
            Double(beta?.tensor.values[feature] ?? 0) - Double(mean.tensor.values[feature]) * g * inverse)
        }
        let names = [mean.name, variance.name] + [gamma?.name, beta?.name].compactMap { $0 }
        return (.affine(scale: scale, shift: shift), names)
      case "linear":
        try allow(["weight", "bias"])
        let weight = try tensor("weight", rank: 2)
        let bias = try optionalTensor("bias", rank: 1)
        let linear = try Linear(
          weight: weight.tensor.values, bias: bias?.tensor.values, inputs: weight.tensor.shape[1],
          outputs: weight.tensor.shape[0], kernel: kernel)
        return (.linear(linear), [weight.name] + [bias?.name].compactMap { $0 })
      case "conv1d":
        try allow(["weight", "bias", "dilation", "groups", "padding"])
        let padding = fields["padding"]?.string ?? "causal"
        guard padding == "causal" || padding == "centred" else {
          throw fail("'padding' must be causal or centred")
        }
        let weight = try tensor("weight", rank: 3)
        let bias = try optionalTensor("bias", rank: 1)
        let groups = try integer("groups", default: 1, 1...4096)
        let shape = weight.tensor.shape
        let conv = try CausalConv1d(
          weight: weight.tensor.values, bias: bias?.tensor.values, inputs: shape[1] * groups,
          outputs: shape[0],
          kernel: shape[2], dilation: try integer("dilation", default: 1, 1...1024), groups: groups,
          centred: padding == "centred", kernelSet: kernel)
        return (.conv1d(conv), [weight.name] + [bias?.name].compactMap { $0 })
      case "layernorm":
        try allow(["weight", "bias", "eps"])
        let gamma = try optionalTensor("weight", rank: 1)
        let beta = try optionalTensor("bias", rank: 1)
        guard let size = gamma?.tensor.values.count ?? beta?.tensor.values.count ?? inputWidth else {
          throw fail("needs 'weight' or a layer before it to know its size")
        }
        let norm = try LayerNorm(
          size: size, gamma: gamma?.tensor.values, beta: beta?.tensor.values,
          epsilon: Float(try number("eps", default: 1e-5, 0...1)))
        return (.layerNorm(norm), [gamma?.name, beta?.name].compactMap { $0 })
      case "activation":
        return try activation(inputWidth: inputWidth)
      case "gru", "lstm", "rnn_tanh", "rnn_relu":
        try allow(["prefix", "h0", "c0"])
        let prefix = fields["prefix"]?.string ?? ""
        let starts = Set([fields["h0"]?.string, fields["c0"]?.string].compactMap { $0 })
        let own = tensors.filter {
          $0.key.hasPrefix(prefix) && !$0.key.hasPrefix("frontend.") && !starts.contains($0.key)
        }
        let stateDict = Dictionary(
          uniqueKeysWithValues: own.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        let model: RecurrentModel
        do {
          model = try RecurrentModel(
            kind: RecurrentKind(rawValue: type), stateDict: stateDict, kernel: kernel,
            weightStorage: weightStorage)
        } catch {
          throw fail(error.description)
        }
        return (.recurrent(model), Array(own.keys))
      case "gru_textbook":
        try allow(["weight_ih", "weight_hh", "bias_ih", "bias_hh", "update"])
        let weightIH = try tensor("weight_ih", rank: 2)
        let weightHH = try tensor("weight_hh", rank: 2)
        let biasIH = try optionalTensor("bias_ih", rank: 1)
        let biasHH = try optionalTensor("bias_hh", rank: 1)
        let updateName = fields["update"]?.string ?? GRUUpdate.zKeepsState.rawValue
        guard let update = GRUUpdate(rawValue: updateName) else {
          throw fail("'update' must be z_keeps_state or z_takes_candidate")
        }
        let hidden = weightHH.tensor.shape[1]
        let gru = try TextbookGRU(
          weightIH: weightIH.tensor.values, weightHH: weightHH.tensor.values, biasIH: biasIH?.tensor.values,
          biasHH: biasHH?.tensor.values, inputs: weightIH.tensor.shape[1], hidden: hidden, update: update,
          kernel: kernel)
        return (
          .textbookGRU(gru), [weightIH.name, weightHH.name] + [biasIH?.name, biasHH?.name].compactMap { $0 }
        )
      case "frame_stack":
        try allow(["frames", "size"])
        let size = try featuresIn(following: inputWidth)
        return (.frameStack(frames: try integer("frames", default: 1, 1...1024), size: size), [])
      case "subsample":
        try allow(["every", "size"])
        let size = try featuresIn(following: inputWidth)
        return (.subsample(every: try integer("every", default: 1, 1...1024), size: size), [])
      default:
        throw fail("unknown layer type")
      }
    } catch let error as LayerChainError {
      throw fail(error.description)
    } catch let error as ModelFileError {
      throw error
    } catch {
      throw fail("\(error)")
    }
  }

  /// A shape-free layer's features in: its `size` (required first, checked against the layer
  /// before otherwise) or the layer before's output.
  func featuresIn(following inputWidth: Int?) throws(ModelFileError) -> Int {
    guard fields["size"] != nil else {
      guard let inputWidth else { throw fail("needs a 'size' (features in) when it comes first") }
      return inputWidth
    }
    let size = try integer("size", default: 1, 1...1_048_576)
    if let inputWidth, inputWidth != size {
      throw fail("'size' \(size) but the layer before gives \(inputWidth) features")
    }
    return size
  }

  func activation(inputWidth: Int?) throws(ModelFileError) -> (layer: Layer?, names: [String]) {
    guard let name = fields["function"]?.string else { throw fail("'function' must name the activation") }
    var names: [String] = []
    let function: Activation
    switch name {
    case "relu":
      try allow(["function"])
      function = .relu
    case "relu6":
      try allow(["function"])
      function = .hardtanh(lower: 0, upper: 6)
    case "silu":
      try allow(["function"])
      function = .silu
    case "tanh":
      try allow(["function"])
      function = .tanh
    case "sigmoid":
      try allow(["function"])
      function = .sigmoid
    case "leaky_relu":
      try allow(["function", "negative_slope"])
      function = .leakyReLU(slope: Float(try number("negative_slope", default: 0.01, -1e6...1e6)))
    case "elu":
      try allow(["function", "alpha"])
      function = .elu(alpha: Float(try number("alpha", default: 1, -1e6...1e6)))
    case "gelu":
      try allow(["function", "approximate"])
      switch fields["approximate"]?.string ?? "none" {
      case "none": function = .gelu
      case "tanh": function = .geluTanh
      default: throw fail("gelu 'approximate' must be none or tanh")
      }
    case "hardtanh":
      try allow(["function", "min_val", "max_val"])
      let lower = try number("min_val", default: -1, -1e6...1e6)
      let upper = try number("max_val", default: 1, -1e6...1e6)
      guard lower <= upper else { throw fail("min_val must not exceed max_val") }
      function = .hardtanh(lower: Float(lower), upper: Float(upper))
    case "softplus":
      try allow(["function", "beta", "threshold"])
      let beta = try number("beta", default: 1, 1e-6...1e6)
      function = .softplus(beta: Float(beta), threshold: Float(try number("threshold", default: 20, 0...1e6)))
    case "prelu":
      try allow(["function", "weight"])
      let weight = try tensor("weight", rank: 1)
      names.append(weight.name)
      function = .prelu(weights: weight.tensor.values)
    default:
      throw fail("unknown activation '\(printable(name))'")
    }
    guard let inputWidth else { throw fail("cannot come first (its size follows the layer before)") }
    return (.activation(function, size: inputWidth), names)
  }
}
