/// The tensors of one cell (layer k, one direction) as found in a `state_dict`.
struct CellTensors {
  var inputSize: Int
  var weightIH: FloatTensor
  var weightHH: FloatTensor
  var biasIH: FloatTensor?
  var biasHH: FloatTensor?
  var weightHR: FloatTensor?
}

/// Reads the structure of a recurrent stack (+ optional head) off PyTorch `state_dict` names and
/// shapes, rejecting anything missing, misshapen, non-finite or left over.
struct StateDictStructure {
  var kind: RecurrentKind
  var inputSize: Int
  var hiddenSize: Int
  var projectionSize: Int
  var layerCount: Int
  var isBidirectional: Bool
  var hasBias: Bool
  /// `[L*D]`, in `h_n` order.
  var cells: [CellTensors]
  var head: (weight: FloatTensor, bias: FloatTensor?)?

  init(stateDict: [String: FloatTensor], kind requestedKind: RecurrentKind?)
    throws(RecurrentModelError)
  {
    // The prefix is whatever precedes `weight_ih_l0` (e.g. "rnn."); it must be unique.
    let anchor = "weight_ih_l0"
    let prefixes = stateDict.keys.filter { $0.hasSuffix(anchor) }.map { String($0.dropLast(anchor.count)) }
    guard let prefix = prefixes.first else { throw .noRecurrentLayers }
    guard prefixes.count == 1 else { throw .ambiguousPrefixes(prefixes.sorted()) }

    var used = Set<String>()
    func tensor(_ name: String) -> FloatTensor? {
      guard let found = stateDict[prefix + name] else { return nil }
      used.insert(prefix + name)
      return found
    }
    func require(_ name: String, _ shape: [Int], _ context: String) throws(RecurrentModelError)
      -> FloatTensor
    {
      guard let found = tensor(name) else {
        throw .missingTensor(name: prefix + name, expectedShape: shape)
      }
      guard found.shape == shape else {
        throw .wrongShape(name: prefix + name, shape: found.shape, expected: shape, context: context)
      }
      return found
    }
    func matrix(_ name: String) throws(RecurrentModelError) -> FloatTensor {
      let found = tensor(name)!
      guard found.shape.count == 2, found.shape.allSatisfy({ $0 > 0 }) else {
        throw .wrongShape(
          name: prefix + name, shape: found.shape, expected: [-1, -1],
          context: "a non-empty matrix")
      }
      return found
    }

    // Layer 0 fixes every size; all other tensors are then checked against exact shapes.
    let weightIH0 = try matrix("weight_ih_l0")
    guard stateDict[prefix + "weight_hh_l0"] != nil else {
      throw .missingTensor(name: prefix + "weight_hh_l0", expectedShape: [weightIH0.shape[0], -1])
    }
    let weightHH0 = try matrix("weight_hh_l0")
    let weightHR0: FloatTensor? =
      stateDict[prefix + "weight_hr_l0"] != nil ? try matrix("weight_hr_l0") : nil

    let kind: RecurrentKind
    if let requestedKind {
      kind = requestedKind
    } else if weightHR0 != nil {
      kind = .lstm
    } else {
      let hidden = weightHH0.shape[1]
      switch weightHH0.shape[0] {
      case 3 * hidden: kind = .gru
      case 4 * hidden: kind = .lstm
      case hidden:
        throw .unknownKind(
          reason:
            "an RNN's nonlinearity is not in its weights; set metadata kind or pass --kind rnn_tanh|rnn_relu")
      default:
        throw .unknownKind(
          reason:
            "\(prefix)weight_hh_l0 has shape \(weightHH0.shape), which is no GRU (3H, H) or LSTM (4H, H); set metadata kind"
        )
      }
    }
    let gates = kind.gateCount
    let hidden: Int
    let projection: Int
    if let weightHR0 {
      guard kind == .lstm else {
        throw .inconsistent(
          "tensor '\(prefix)weight_hr_l0' (proj_size) exists only in LSTMs, but the kind is \(kind.rawValue)")
      }
      projection = weightHR0.shape[0]
      hidden = weightHR0.shape[1]
      guard projection < hidden else {
        throw .wrongShape(
          name: prefix + "weight_hr_l0", shape: weightHR0.shape, expected: [-1, hidden],
          context: "proj_size must be smaller than hidden_size (PyTorch's rule)")
      }
    } else {
      projection = 0
      hidden = weightHH0.shape[1]
    }
    let hiddenOut = projection > 0 ? projection : hidden
    let inputSize = weightIH0.shape[1]

    var layerCount = 0
    while stateDict[prefix + "weight_ih_l\(layerCount)"] != nil { layerCount += 1 }
    let bidirectional = stateDict[prefix + "weight_ih_l0_reverse"] != nil
    let hasBias = stateDict[prefix + "bias_ih_l0"] != nil || stateDict[prefix + "bias_hh_l0"] != nil
    let directions = bidirectional ? 2 : 1
    let description =
      "\(kind.rawValue), input_size \(inputSize), hidden_size \(hidden)"
      + (projection > 0 ? ", proj_size \(projection)" : "")
      + (bidirectional ? ", bidirectional" : "")

    var cells: [CellTensors] = []
    for layer in 0..<layerCount {
      let layerInput = layer == 0 ? inputSize : directions * hiddenOut
      for direction in 0..<directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        let context = "layer \(layer) of a \(description)"
        let rows = gates * hidden
        cells.append(
          CellTensors(
            inputSize: layerInput,
            weightIH: try require("weight_ih" + suffix, [rows, layerInput], context),
            weightHH: try require("weight_hh" + suffix, [rows, hiddenOut], context),
            biasIH: hasBias ? try require("bias_ih" + suffix, [rows], context) : nil,
            biasHH: hasBias ? try require("bias_hh" + suffix, [rows], context) : nil,
            weightHR: projection > 0
              ? try require("weight_hr" + suffix, [projection, hidden], context) : nil))
      }
    }

    // The head is `head.` at the top level, or beside the recurrent module (`model.head.` next to
    // `model.rnn.`), as a module that nests both would name it.
    let parent = prefix.split(separator: ".").dropLast().map { $0 + "." }.joined()
    let headPrefix = ["head.", parent + "head."].first { stateDict[$0 + "weight"] != nil } ?? "head."
    var head: (weight: FloatTensor, bias: FloatTensor?)?
    if let headWeight = stateDict[headPrefix + "weight"] {
      used.insert(headPrefix + "weight")
      let features = directions * hiddenOut
      guard headWeight.shape.count == 2, headWeight.shape[1] == features, headWeight.shape[0] > 0
      else {
        throw .wrongShape(
          name: headPrefix + "weight", shape: headWeight.shape,
          expected: [headWeight.shape.first ?? 1, features],
          context: "Linear over the last layer's \(features) outputs")
      }
      var headBias: FloatTensor?
      if let bias = stateDict[headPrefix + "bias"] {
        used.insert(headPrefix + "bias")
        guard bias.shape == [headWeight.shape[0]] else {
          throw .wrongShape(
            name: headPrefix + "bias", shape: bias.shape, expected: [headWeight.shape[0]],
            context: "one bias per head output")
        }
        headBias = bias
      }
      head = (headWeight, headBias)
    }

    if let stray = stateDict.keys.filter({ !used.contains($0) }).sorted().first {
      throw .unexpectedTensor(name: stray)
    }
    for name in used.sorted() {
      let values = stateDict[name]!.values
      if let index = values.firstIndex(where: { !$0.isFinite }) {
        throw .nonFiniteValue(name: name, index: index, value: values[index])
      }
    }

    self.kind = kind
    self.inputSize = inputSize
    self.hiddenSize = hidden
    self.projectionSize = projection
    self.layerCount = layerCount
    self.isBidirectional = bidirectional
    self.hasBias = hasBias
    self.cells = cells
    self.head = head
  }
}
