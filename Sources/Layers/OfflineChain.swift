import Recurrent

/// A chain of layers run over a whole recording at once, for models that cannot stream: a
/// bidirectional recurrent layer needs the end of the sequence before its first output.
///
/// The chain is cut at each bidirectional layer: the pieces between run as ``LayerChain``s (frame
/// by frame, their lookahead flushed at the end of the sequence, exactly as on the streaming path),
/// and each bidirectional layer runs ``RecurrentModel/run(sequence:frameCount:state:)`` over all the
/// frames the piece before it gave. A chain without a bidirectional layer is one piece: the same
/// outputs as ``LayerChain/run(sequence:frameCount:state:)``.
///
/// Immutable and `Sendable`; ``run(sequence:frameCount:)`` allocates its buffers and results (not
/// for the real-time path). Thread: any.
public final class OfflineChain: Sendable {
  /// One piece: a streamable chain or a bidirectional layer (with its starting state, if any).
  enum Piece: Sendable {
    case streaming(LayerChain)
    case bidirectional(RecurrentModel, RecurrentInitialState?)
  }

  let pieces: [Piece]
  /// Features per input frame.
  public let inputSize: Int
  /// Features per output frame.
  public let outputSize: Int
  /// The output activation, applied by ``applyHeadActivation(_:)``.
  public let headActivation: HeadActivation
  /// Output names, or nil.
  public let labels: [String]?
  /// The instruction set used for the output activation.
  public let kernel: RecurrentKernel
  /// True when a layer is bidirectional (so that the model cannot stream).
  public var needsWholeSequence: Bool {
    pieces.contains { if case .bidirectional = $0 { true } else { false } }
  }

  /// Checks the layers as ``LayerChain`` does, allowing bidirectional recurrent layers.
  /// - Parameter initialStates: By layer index, a recurrent layer's starting `h` (and `c`); for a
  ///   bidirectional layer `[layers·2, H_out]` as PyTorch's `h_0`.
  /// - Throws: ``LayerChainError`` naming the first layer that does not fit (by its index in
  ///   `layers`).
  public init(
    layers: [Layer], headActivation: HeadActivation = .none, labels: [String]? = nil,
    kernel: RecurrentKernel = .preferred, initialStates: [Int: RecurrentInitialState] = [:]
  ) throws(LayerChainError) {
    guard let first = layers.first else {
      throw LayerChainError(description: "a chain needs at least one layer")
    }
    var pieces: [Piece] = []
    var pending: [Layer] = []
    var pendingStart = 0
    var pendingStates: [Int: RecurrentInitialState] = [:]
    /// Builds the streaming piece collected so far; errors name layers by their index in `layers`.
    func closePiece() throws(LayerChainError) {
      guard !pending.isEmpty else { return }
      do {
        pieces.append(
          .streaming(try LayerChain(layers: pending, kernel: kernel, initialStates: pendingStates)))
      } catch {
        throw LayerChainError(description: Self.renumber(error.description, by: pendingStart))
      }
      pending = []
      pendingStates = [:]
    }
    for (index, layer) in layers.enumerated() {
      if index > 0, layers[index - 1].outputSize != layer.inputSize {
        throw LayerChainError(
          description:
            "layer \(index) (\(layer.kindName)) takes \(layer.inputSize) features but layer \(index - 1) (\(layers[index - 1].kindName)) gives \(layers[index - 1].outputSize)"
        )
      }
      if case .recurrent(let model) = layer, model.isBidirectional {
        try closePiece()
        if let start = initialStates[index] {
          var probe = model.makeState()
          do {
            try probe.setH(start.h)
            if let c = start.c { try probe.setC(c) }
          } catch {
            throw LayerChainError(
              description: "layer \(index) (\(layer.kindName)): initial state: \(error.description)")
          }
        }
        pieces.append(.bidirectional(model, initialStates[index]))
        pendingStart = index + 1
        continue
      }
      if pending.isEmpty { pendingStart = index }
      if let start = initialStates[index] { pendingStates[index - pendingStart] = start }
      pending.append(layer)
    }
    try closePiece()
    let outputs = layers.last!.outputSize
    if let labels, labels.count != outputs {
      throw LayerChainError(description: "\(labels.count) labels for \(outputs) outputs")
    }
    self.pieces = pieces
    inputSize = first.inputSize
    outputSize = outputs
    self.headActivation = headActivation
    self.labels = labels
    self.kernel = kernel
  }

  /// "layer 2 (…)" in a piece's error → "layer 2 + offset (…)".
  static func renumber(_ text: String, by offset: Int) -> String {
    guard offset > 0, text.hasPrefix("layer "),
      let end = text.dropFirst(6).firstIndex(where: { !$0.isNumber }),
      let number = Int(text[text.index(text.startIndex, offsetBy: 6)..<end])
    else { return text }
    return "layer \(number + offset)" + text[end...]
  }

  /// Runs `[frameCount, inputSize]` frames and returns `[produced, outputSize]` outputs before the
  /// output activation (fewer rows than frames only after a subsampler).
  public func run(sequence: [Float], frameCount: Int) -> [Float] {
    precondition(sequence.count == frameCount * inputSize, "frames are not [\(frameCount), \(inputSize)]")
    var values = sequence
    var count = frameCount
    for piece in pieces {
      switch piece {
      case .streaming(let chain):
        values = chain.run(sequence: values, frameCount: count, state: chain.makeState())
        count = values.count / chain.outputSize
      case .bidirectional(let model, let start):
        var state = model.makeState()
        if let start {
          // Checked at init.
          try? state.setH(start.h)
          if let c = start.c { try? state.setC(c) }
        }
        values = model.run(sequence: values, frameCount: count, state: &state)
      }
    }
    return values
  }

  /// Applies the output activation in place (as ``LayerChain/applyHeadActivation(_:)``).
  public func applyHeadActivation(_ values: UnsafeMutableBufferPointer<Float>) {
    headActivation.apply(values, kernel: kernel)
  }
}
