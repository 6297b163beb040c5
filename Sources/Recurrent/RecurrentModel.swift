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
  /// Applied to the head's input before the Linear layer.
  public let inputActivation: HeadInputActivation
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

  /// The instruction set the step runs on.
  public let kernel: RecurrentKernel
  /// How the matrix weights are stored: float32 (exact) or float16.
  public let weightStorage: WeightStorage
  let functions: KernelFunctions
  /// Every weight and bias in panels (see ``PackedWeights``).
  let packed: PackedWeights
  /// Six Ints per panel: `[outputRow, inputStart, inputCount, weightOffset, biasOffset, rowVectors]`.
  let descriptors: [Int]
  /// `[L*D]` cells, indexed `layer * D + direction` like PyTorch's `h_n`.
  let cells: [CellPlan]
  /// The head's panels over the last layer's `D*H_out` outputs.
  let headPanels: PanelRun?
  /// `H` rounded up to the lane count: the stride between gate blocks in `pre`.
  let paddedHidden: Int
  /// The widest cell input (`max(input_size, D*H_out)`).
  let widestInput: Int

  /// `H_out`: width of each layer's `h` (`P` if projected, else `H`).
  public var hiddenOutputSize: Int { projectionSize > 0 ? projectionSize : hiddenSize }
  /// `D`: 2 for bidirectional models, else 1.
  public var directionCount: Int { isBidirectional ? 2 : 1 }
  /// Floats a step or frame yields: `C` with a head, else `D * H_out` (the last layer's output).
  public var outputSize: Int { head?.classCount ?? directionCount * hiddenOutputSize }
  /// Whether the state has a `c` part (LSTM only).
  public var hasCellState: Bool { kind == .lstm }
  /// Scratch layout (floats): `u = [x; h]` | `pre` (4 gate blocks of `paddedHidden`) | the LSTM
  /// projection input `[paddedHidden]` | projection/head output `[padded max(P, C)]`.
  /// Stored, not computed: the step reads them every frame (a computed `padded` is a division).
  var scratchU: Int { 0 }
  let scratchPre: Int
  let scratchProjectionInput: Int
  let scratchPanelOutput: Int
  let scratchHeadInput: Int
  let scratchSize: Int
  /// Whether the first cell reads the frame where it is (a one-vector GRU), so the step need not
  /// copy it into the state's `x` slot.
  let readsFrameInPlace: Bool
  /// Whether the last cell, a one-vector GRU with no head after it, writes the step's output
  /// itself (no copy of `h` afterwards).
  let writesOutputInPlace: Bool
  /// The weight offset of the only cell when the model is one one-vector GRU layer with no head:
  /// the step is then one kernel call (`h` is the state's first row).
  let singleOneVectorGRU: Int?
  /// Whether ``step(_:state:output:)`` reads each layer's gate panels forward and backward on
  /// alternate steps (float32 weights of ``PackedWeights/hugePageThreshold`` bytes or more): the
  /// weights read last are read first next time, while still in the cache. The outputs are the
  /// same, bit for bit.
  public let alternatesTraversal: Bool

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
  ///   - headInputActivation: Applied to the last layer's output before the head's Linear layer.
  ///   - labels: Class names, one per head output; requires a head.
  ///   - kernel: The instruction set to run on (default: ``RecurrentKernel/preferred``); an
  ///     unavailable one falls back to the preferred kernel.
  ///   - weightStorage: float32 (default, exact) or float16 matrix weights (see ``WeightStorage``).
  public init(
    kind: RecurrentKind?, stateDict: [String: FloatTensor], headActivation: HeadActivation = .none,
    headInputActivation: HeadInputActivation = .none, labels: [String]? = nil,
    kernel: RecurrentKernel = .preferred, weightStorage: WeightStorage = .float32
  ) throws(RecurrentModelError) {
    let structure = try StateDictStructure(stateDict: stateDict, kind: kind)
    self.kind = structure.kind
    self.inputSize = structure.inputSize
    self.hiddenSize = structure.hiddenSize
    self.projectionSize = structure.projectionSize
    self.layerCount = structure.layerCount
    self.isBidirectional = structure.isBidirectional
    self.hasBias = structure.hasBias

    let kernel = kernel.isAvailable ? kernel : .preferred
    self.kernel = kernel
    self.weightStorage = weightStorage
    functions = kernel.functions
    let lanes = functions.lanes
    let hidden = structure.hiddenSize
    let hiddenOut = structure.projectionSize > 0 ? structure.projectionSize : hidden
    let paddedHidden = padded(hidden, to: lanes)
    self.paddedHidden = paddedHidden
    widestInput = max(structure.inputSize, structure.cells.map(\.inputSize).max() ?? 0)

    var packer = PanelPacker(lanes: lanes)
    var cells: [CellPlan] = []
    for cell in structure.cells {
      let input = cell.inputSize
      let first = packer.panelCount
      // Gates over u = [h; x] (see RecurrentState.buffer): column k < H_out reads W_hh, the rest
      // W_ih. PyTorch adds b_ih and b_hh; a fused row starts from their sum.
      func fused(_ gate: Int) -> (Int, Int) -> Float {
        { row, k in
          k < hiddenOut
            ? cell.weightHH.at(gate * hidden + row, k) : cell.weightIH.at(gate * hidden + row, k - hiddenOut)
        }
      }
      func biasIH(_ gate: Int) -> (Int) -> Float { { row in cell.biasIH?.at(gate * hidden + row) ?? 0 } }
      func biasHH(_ gate: Int) -> (Int) -> Float { { row in cell.biasHH?.at(gate * hidden + row) ?? 0 } }
      func bothBiases(_ gate: Int) -> (Int) -> Float { { row in biasIH(gate)(row) + biasHH(gate)(row) } }
      switch structure.kind {
      case .gru:
        // pre = [r, z, n_x, n_h]: n keeps its two halves apart, since n = tanh(n_x + r ⊙ n_h).
        // Panels that read only h run first, the one that reads only x last.
        for gate in 0..<2 {
          packer.addGroup(
            rows: hidden, outputRow: gate * paddedHidden, inputStart: 0, inputCount: hiddenOut + input,
            weight: fused(gate), bias: bothBiases(gate))
        }
        packer.addGroup(
          rows: hidden, outputRow: 3 * paddedHidden, inputStart: 0, inputCount: hiddenOut,
          weight: { row, k in cell.weightHH.at(2 * hidden + row, k) }, bias: biasHH(2))
        packer.addGroup(
          rows: hidden, outputRow: 2 * paddedHidden, inputStart: hiddenOut, inputCount: input,
          weight: { row, k in cell.weightIH.at(2 * hidden + row, k) }, bias: biasIH(2))
      case .lstm:
        for gate in 0..<4 {
          packer.addGroup(
            rows: hidden, outputRow: gate * paddedHidden, inputStart: 0, inputCount: hiddenOut + input,
            weight: fused(gate), bias: bothBiases(gate))
        }
      case .rnnTanh, .rnnRelu:
        packer.addGroup(
          rows: hidden, outputRow: 0, inputStart: 0, inputCount: hiddenOut + input, weight: fused(0),
          bias: bothBiases(0))
      }
      let gates = PanelRun(start: first, count: packer.panelCount - first)
      var projection: PanelRun?
      if let weightHR = cell.weightHR {
        let start = packer.panelCount
        packer.addGroup(
          rows: hiddenOut, outputRow: 0, inputStart: 0, inputCount: hidden,
          weight: { row, k in weightHR.at(row, k) }, bias: { _ in 0 })
        projection = PanelRun(start: start, count: packer.panelCount - start)
      }
      var plan = CellPlan(inputSize: input, gates: gates, projection: projection)
      if structure.kind == .gru, hidden <= lanes {
        plan.oneVectorGRU = packer.addOneVectorGRU(
          hidden: hidden, input: input,
          weightIH: { gate, row, k in cell.weightIH.at(gate * hidden + row, k) },
          weightHH: { gate, row, k in cell.weightHH.at(gate * hidden + row, k) },
          bias: { slot, row in
            switch slot {
            case 0, 1: bothBiases(slot)(row)
            case 2: biasIH(2)(row)
            default: biasHH(2)(row)
            }
          })
      }
      cells.append(plan)
    }
    self.cells = cells

    if let headTensors = structure.head {
      let classCount = headTensors.weight.shape[0]
      if let labels, labels.count != classCount {
        throw .labelCount(labels: labels.count, outputs: classCount)
      }
      let start = packer.panelCount
      packer.addGroup(
        rows: classCount, outputRow: 0, inputStart: 0, inputCount: headTensors.weight.shape[1],
        weight: { row, k in headTensors.weight.at(row, k) }, bias: { row in headTensors.bias?.at(row) ?? 0 })
      headPanels = PanelRun(start: start, count: packer.panelCount - start)
      head = ClassifierHead(
        classCount: classCount, activation: headActivation, labels: labels,
        hasBias: headTensors.bias != nil, inputActivation: headInputActivation)
    } else {
      if let labels {
        throw .inconsistent("\(labels.count) labels given but the model has no head (head.weight)")
      }
      headPanels = nil
      head = nil
    }
    packed = PackedWeights(packer.weights, storage: weightStorage)
    descriptors = packer.descriptors
    scratchPre = padded(widestInput + hiddenOut, to: lanes)
    scratchProjectionInput = scratchPre + 4 * paddedHidden
    scratchPanelOutput = scratchProjectionInput + paddedHidden
    scratchHeadInput =
      scratchPanelOutput + padded(max(structure.projectionSize, head?.classCount ?? 0, 1), to: lanes)
    scratchSize = scratchHeadInput + (structure.isBidirectional ? 2 : 1) * hiddenOut
    readsFrameInPlace = cells.first?.oneVectorGRU != nil
    writesOutputInPlace = cells.last?.oneVectorGRU != nil && head == nil && !structure.isBidirectional
    singleOneVectorGRU = cells.count == 1 && writesOutputInPlace ? cells[0].oneVectorGRU : nil
    alternatesTraversal = weightStorage == .float32 && packed.count * 4 >= PackedWeights.hugePageThreshold
  }

  /// A zero state (`h_0 = 0`, `c_0 = 0`) sized for this model, with its scratch allocated now.
  public func makeState() -> RecurrentState {
    RecurrentState(
      slotCount: layerCount * directionCount, hiddenSize: hiddenSize,
      hiddenOutputSize: hiddenOutputSize, hasCellState: hasCellState,
      inputSlotSize: isBidirectional ? 0 : inputSize, scratchSize: scratchSize)
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
