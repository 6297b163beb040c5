/// Where one cell's (one layer, one direction) parameters live inside `RecurrentModel.parameters`.
///
/// Offsets count `Float`s. All matrices are row-major, in PyTorch's layout and gate order
/// (GRU r|z|n, LSTM i|f|g|o). A model without biases (`bias=False`) stores zeros, which leaves
/// every sum bit-identical because `x + 0 == x`.
struct CellLayout: Sendable {
  /// Width of this cell's input: `input_size` for layer 0, `D * H_out` above it.
  var inputSize: Int
  /// `weight_ih`: `[G*H, inputSize]`.
  var weightIH: Int
  /// `weight_hh`: `[G*H, H_out]`.
  var weightHH: Int
  /// `bias_ih`: `[G*H]`.
  var biasIH: Int
  /// `bias_hh`: `[G*H]`.
  var biasHH: Int
  /// `weight_hr` (LSTM with `proj_size > 0` only): `[P, H]`; -1 when absent.
  var weightHR: Int
}

/// A classifier head: a `Linear(D*H_out, C)` over the last layer's output.
public struct ClassifierHead: Sendable {
  /// `C`, the number of logits per frame.
  public let classCount: Int
  /// What turns logits into the outputs users see (not applied by `step`, which yields logits).
  public let activation: HeadActivation
  /// Class names from the model's `labels` metadata, `classCount` of them, or nil.
  public let labels: [String]?
  /// Whether the file had `head.bias` (a missing bias is stored as zeros).
  public let hasBias: Bool
}

/// Immutable weights of a PyTorch `nn.GRU`/`nn.LSTM`/`nn.RNN` stack (eval mode, batch 1) and an
/// optional classifier head.
///
/// Build it from a `state_dict` with ``init(kind:stateDict:headActivation:labels:)``. Running it
/// needs a ``RecurrentState`` (h, c and scratch), which is a separate value so one set of weights can
/// serve many streams. Sizes follow PyTorch: `H` = `hidden_size`, `P` = `proj_size`,
/// `H_out` = `P` if `P > 0` else `H`, `D` = 2 if bidirectional else 1, `L` = `num_layers`.
public struct RecurrentModel: Sendable {
  /// The cell type.
  public let kind: RecurrentKind
  /// `input_size`: floats per input frame.
  public let inputSize: Int
  /// `hidden_size` (`H`): width of the LSTM cell state and of each gate.
  public let hiddenSize: Int
  /// `proj_size` (`P`), 0 when the LSTM has no projection (always 0 for GRU and RNN).
  public let projectionSize: Int
  /// `num_layers` (`L`).
  public let layerCount: Int
  /// `bidirectional`. Such models run only through ``run(sequence:frameCount:state:)``.
  public let isBidirectional: Bool
  /// Whether the file had `bias_ih_l*`/`bias_hh_l*` (`bias=True`).
  public let hasBias: Bool
  /// The optional classifier head.
  public let head: ClassifierHead?

  /// Every weight and bias, packed once at load: cells in `h_n` order (layer-major, forward then
  /// reverse), then the head's `[C, D*H_out]` weight and `[C]` bias.
  let parameters: [Float]
  /// `[L*D]` cells, indexed `layer * D + direction` like PyTorch's `h_n`.
  let cells: [CellLayout]
  /// Offsets of the head's weight and bias in `parameters` (-1 without a head).
  let headWeight: Int
  let headBias: Int

  /// `H_out`: width of each layer's `h` (`P` if projected, else `H`).
  public var hiddenOutputSize: Int { projectionSize > 0 ? projectionSize : hiddenSize }
  /// `D`: 2 for bidirectional models, else 1.
  public var directionCount: Int { isBidirectional ? 2 : 1 }
  /// Floats a step or frame yields: `C` with a head, else `D * H_out` (the last layer's output).
  public var outputSize: Int { head?.classCount ?? directionCount * hiddenOutputSize }
  /// Whether the state has a `c` part (LSTM only).
  public var hasCellState: Bool { kind == .lstm }
  /// Floats of scratch one cell update needs (gate pre-activations and the LSTM projection input).
  var scratchSize: Int {
    switch kind {
    case .gru: 6 * hiddenSize
    case .lstm: 5 * hiddenSize
    case .rnnTanh, .rnnRelu: hiddenSize
    }
  }

  /// Reads a PyTorch `state_dict` and checks every tensor's presence, shape and finiteness.
  ///
  /// Names are PyTorch's (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
  /// `weight_hr_l{k}`, each optionally with `_reverse`), all under one optional common prefix such as
  /// `rnn.`; `head.weight` (`[C, D*H_out]`) and `head.bias` (`[C]`, optional) form the head, at the
  /// top level or beside a nested recurrent module (`model.head.*` next to `model.rnn.*`).
  /// Every other tensor is an error, so a file is never half-understood.
  ///
  /// - Parameters:
  ///   - kind: The cell type; nil infers GRU or LSTM from the shapes (an RNN's nonlinearity cannot
  ///     be inferred, so it must be given).
  ///   - headActivation: Applied by ``applyHeadActivation(_:)``; ignored without a head.
  ///   - labels: Class names, one per head output; requires a head.
  public init(
    kind: RecurrentKind?, stateDict: [String: FloatTensor], headActivation: HeadActivation = .none,
    labels: [String]? = nil
  ) throws(RecurrentModelError) {
    let structure = try StateDictStructure(stateDict: stateDict, kind: kind)
    self.kind = structure.kind
    self.inputSize = structure.inputSize
    self.hiddenSize = structure.hiddenSize
    self.projectionSize = structure.projectionSize
    self.layerCount = structure.layerCount
    self.isBidirectional = structure.isBidirectional
    self.hasBias = structure.hasBias

    var packed: [Float] = []
    /// Appends a tensor's values (or `zeros` zeros when it is absent) and returns its offset.
    func pack(_ tensor: FloatTensor?, zeros: Int = 0) -> Int {
      let offset = packed.count
      if let tensor {
        packed.append(contentsOf: tensor.values)
      } else {
        packed.append(contentsOf: repeatElement(0, count: zeros))
      }
      return offset
    }

    let gateRows = structure.kind.gateCount * structure.hiddenSize
    self.cells = structure.cells.map { cell in
      CellLayout(
        inputSize: cell.inputSize,
        weightIH: pack(cell.weightIH),
        weightHH: pack(cell.weightHH),
        biasIH: pack(cell.biasIH, zeros: gateRows),
        biasHH: pack(cell.biasHH, zeros: gateRows),
        weightHR: cell.weightHR.map { pack($0) } ?? -1)
    }
    if let headTensors = structure.head {
      let classCount = headTensors.weight.shape[0]
      if let labels, labels.count != classCount {
        throw .labelCount(labels: labels.count, outputs: classCount)
      }
      headWeight = pack(headTensors.weight)
      headBias = pack(headTensors.bias, zeros: classCount)
      head = ClassifierHead(
        classCount: classCount, activation: headActivation, labels: labels,
        hasBias: headTensors.bias != nil)
    } else {
      if let labels {
        throw .inconsistent("\(labels.count) labels given but the model has no head (head.weight)")
      }
      headWeight = -1
      headBias = -1
      head = nil
    }
    self.parameters = packed
  }

  /// A zero state (`h_0 = 0`, `c_0 = 0`) sized for this model, with its scratch allocated now.
  public func makeState() -> RecurrentState {
    RecurrentState(
      slotCount: layerCount * directionCount, hiddenSize: hiddenSize,
      hiddenOutputSize: hiddenOutputSize, hasCellState: hasCellState, scratchSize: scratchSize)
  }

  /// A zero state for frame-by-frame use with ``step(_:state:output:)``.
  ///
  /// - Throws: ``RecurrentModelError/inconsistent(_:)`` for bidirectional models: their reverse
  ///   direction needs future frames, so only ``run(sequence:frameCount:state:)`` can run them.
  public func makeStepState() throws(RecurrentModelError) -> RecurrentState {
    if isBidirectional {
      throw .inconsistent(
        "bidirectional models cannot run one step at a time (the reverse direction needs the future); use the sequence API"
      )
    }
    return makeState()
  }
}
