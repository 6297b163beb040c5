import Recurrent

#if canImport(Glibc)
  import Glibc
#endif

/// A model as an ordered chain of layers applied to each frame, then an output activation: a
/// normalisation, convolutions, MLPs and any number of recurrent stacks of different kinds and
/// sizes, as real trained models put them.
///
/// Weights are immutable and `Sendable`: one chain serves every stream. Each stream owns a
/// ``LayerChainState`` (recurrent `h`/`c`, conv and stacking histories, frame counters), carried
/// across calls and reset explicitly. ``step(_:state:output:)`` does not allocate, lock, throw or
/// do I/O. (`@unchecked Sendable`: the layer buffer is written once, in `init`, and only read
/// after.)
public final class LayerChain: @unchecked Sendable {
  /// The layers, in order. Kept in a buffer of their own: reading an `Array` element goes through a
  /// generic accessor that may allocate in unoptimised builds.
  let storage: UnsafeMutableBufferPointer<Layer>
  /// Features per input frame.
  public let inputSize: Int
  /// Features per output frame.
  public let outputSize: Int
  /// Applied by ``applyHeadActivation(_:)`` (softmax, sigmoid or none).
  public let headActivation: HeadActivation
  /// The instruction set of the output activation (the layers carry their own).
  public let kernel: RecurrentKernel
  /// Output names, `outputSize` of them, or nil.
  public let labels: [String]?
  /// Widest layer input or output, rounded up to whole 16-float vectors (packed kernels write whole
  /// vectors): the size of each ping-pong buffer.
  let width: Int
  /// The widest convolution window, floats.
  let windowWidth: Int
  /// Per layer: recurrent layers before it (where its recurrent state is).
  let recurrentBefore: UnsafeMutablePointer<Int>
  /// Per recurrent layer (in chain order), the state a stream starts from and returns to at
  /// ``LayerChainState/reset()``: nil for zeros.
  public let initialStates: [RecurrentInitialState?]
  /// Input frames of the future an output needs (the centred convolutions' lookaheads added up,
  /// each in input frames: a convolution after a subsampler by `n` looks `n` times as far): the
  /// output for input frame `t` comes out with frame `t + lookahead`; ``finish(state:output:emit:)``
  /// gives the last ones.
  public let lookahead: Int
  /// Input frames per output frame: the product of the ``Layer/subsample(every:size:)`` factors
  /// (1 without one). Outputs belong to input frames 0, `outputInterval`, 2·`outputInterval`, …
  public let outputInterval: Int

  /// Checks that each layer's output feeds the next one's input and that every layer can stream.
  /// - Throws: ``LayerChainError`` naming the first layer that does not fit.
  /// - Parameter initialStates: By layer index, a recurrent layer's starting `h` (and `c`), as
  ///   PyTorch's `h_0`/`c_0` for that module.
  public init(
    layers: [Layer], headActivation: HeadActivation = .none, labels: [String]? = nil,
    kernel: RecurrentKernel = .preferred, initialStates: [Int: RecurrentInitialState] = [:]
  ) throws(LayerChainError) {
    guard let first = layers.first else {
      throw LayerChainError(description: "a chain needs at least one layer")
    }
    for (index, layer) in layers.enumerated() {
      try layer.validate(index: index)
      if index > 0, layers[index - 1].outputSize != layer.inputSize {
        throw LayerChainError(
          description:
            "layer \(index) (\(layer.kindName)) takes \(layer.inputSize) features but layer \(index - 1) (\(layers[index - 1].kindName)) gives \(layers[index - 1].outputSize)"
        )
      }
    }
    let outputs = layers.last!.outputSize
    if let labels, labels.count != outputs {
      throw LayerChainError(description: "\(labels.count) labels for \(outputs) outputs")
    }
    var future = 0
    var interval = 1
    for layer in layers {
      // Overflow-checked and capped (each factor is ≤ 1024): a hostile chain is refused below.
      switch layer {
      case .conv1d(let conv):
        let (far, overflow) = conv.lookahead.multipliedReportingOverflow(by: interval)
        future = overflow ? Int.max : min(future &+ far, 1 << 40)
      case .subsample(let every, _): interval = min(interval * every, 1 << 21)
      default: break
      }
    }
    guard interval <= 1 << 20, future <= 1 << 30 else {
      throw LayerChainError(
        description:
          "the chain subsamples or looks ahead too far (every \(interval) frames, \(future) frames ahead)")
    }
    inputSize = first.inputSize
    outputSize = outputs
    self.kernel = kernel
    self.headActivation = headActivation
    self.labels = labels
    let widest = layers.reduce(0) { max($0, $1.inputSize, $1.outputSize) }
    width = (widest + 15) / 16 * 16
    windowWidth = layers.reduce(0) { widest, layer in
      if case .conv1d(let conv) = layer { return max(widest, conv.kernel * conv.inputs) }
      return widest
    }
    storage = .allocate(capacity: layers.count)
    _ = storage.initialize(from: layers)
    recurrentBefore = .allocate(capacity: layers.count)
    var recurrent = 0
    for (index, layer) in layers.enumerated() {
      recurrentBefore[index] = recurrent
      if case .recurrent = layer { recurrent += 1 }
    }
    lookahead = future
    outputInterval = interval
    var starts: [RecurrentInitialState?] = []
    for (index, layer) in layers.enumerated() {
      guard case .recurrent(let model) = layer else {
        if initialStates[index] != nil {
          throw LayerChainError(
            description: "layer \(index) (\(layer.kindName)) has no recurrent state to start from")
        }
        continue
      }
      if let start = initialStates[index] {
        // Checked on a scratch state: the sizes must be this model's h_0 (and c_0).
        var probe = model.makeState()
        do {
          try probe.setH(start.h)
          if let c = start.c { try probe.setC(c) }
        } catch {
          throw LayerChainError(
            description: "layer \(index) (\(layer.kindName)): initial state: \(error.description)")
        }
      }
      starts.append(initialStates[index])
    }
    self.initialStates = starts
  }

  deinit {
    storage.deinitialize().deallocate()
    recurrentBefore.deallocate()
  }

  /// The layers, in order.
  public var layers: [Layer] { Array(storage) }

  /// A fresh state for one stream: zeros everywhere, every buffer allocated now.
  public func makeState() -> LayerChainState { LayerChainState(chain: self) }

  /// Advances the chain by one input frame. Returns false when a ``Layer/subsample(every:size:)``
  /// dropped the frame (then `output` is untouched), true when `output` holds the frame's
  /// ``outputSize`` outputs (before ``applyHeadActivation(_:)``).
  ///
  /// Real-time safe: does not allocate, lock, throw or do I/O. Make one call before real-time use
  /// (the runtime may set up type metadata on a function's first call).
  @discardableResult
  public func step(
    _ input: UnsafeBufferPointer<Float>, state: LayerChainState, output: UnsafeMutableBufferPointer<Float>
  ) -> Bool {
    precondition(input.count == inputSize && output.count == outputSize, "frame sizes do not match the chain")
    precondition(state.chain === self, "state of another chain")
    state.ping.update(from: input.baseAddress!, count: inputSize)
    return advance(from: 0, state: state, output: output)
  }

  /// Ends a stream with centred convolutions: feeds each one, in order, the zeros after the stream
  /// that PyTorch's padding stands for, handing each remaining output (before the output
  /// activation) to `emit`; `lookahead` outputs in all (fewer with subsampling). Then reset the
  /// state for a new stream. Does not allocate.
  public func finish(
    state: LayerChainState, output: UnsafeMutableBufferPointer<Float>,
    emit: (UnsafeMutableBufferPointer<Float>) -> Void
  ) {
    precondition(output.count == outputSize && state.chain === self, "frame sizes do not match the chain")
    for index in 0..<storage.count {
      guard case .conv1d(let conv) = storage[index], conv.lookahead > 0 else { continue }
      for _ in 0..<conv.lookahead {
        state.ping.update(repeating: 0, count: conv.inputs)
        if advance(from: index, state: state, output: output) { emit(output) }
      }
    }
  }

  /// Runs layers `start…` on the frame in `state.ping` (layer `start`'s input).
  private func advance(from start: Int, state: LayerChainState, output: UnsafeMutableBufferPointer<Float>)
    -> Bool
  {
    var current = state.ping
    var next = state.pong
    var recurrentIndex = recurrentBefore[start]
    for index in start..<storage.count {
      let history = state.histories + state.historyOffsets[index]
      switch storage[index] {
      case .affine(let scale, let shift):
        applyAffine(current, scale: scale, shift: shift)
        continue
      case .activation(let activation, let size):
        activation.apply(current, count: size)
        continue
      case .layerNorm(let norm):
        normalise(current, norm)
        continue
      case .linear(let linear):
        linear.matrix.multiply(current, into: next)
      case .conv1d(let conv):
        gatherWindow(conv, current, history: history, position: &state.positions[index], window: state.window)
        if let matrix = conv.matrix {
          matrix.multiply(state.window, into: next)
        } else {
          depthwise(conv, state.window, into: next)
        }
        // A centred convolution's first outputs belong to frames before the stream.
        if state.skips[index] > 0 {
          state.skips[index] -= 1
          return false
        }
      case .recurrent(let model):
        model.step(
          UnsafeBufferPointer(start: current, count: model.inputSize),
          state: &state.recurrentStates[recurrentIndex],
          output: UnsafeMutableBufferPointer(start: next, count: model.outputSize))
        recurrentIndex += 1
      case .textbookGRU(let gru):
        gru.step(current, into: next, state: history)
      case .frameStack(let frames, let size):
        stack(current, into: next, history: history, frames: frames, size: size)
      case .subsample(let every, _):
        let position = state.positions[index]
        state.positions[index] = position + 1 == every ? 0 : position + 1
        if position != 0 { return false }
        continue
      }
      swap(&current, &next)
    }
    output.baseAddress!.update(from: current, count: outputSize)
    return true
  }

  /// Applies the output activation in place (softmax over the outputs, sigmoid on each, or none),
  /// with the same code as a recurrent model's head (``HeadActivation/apply(_:kernel:)``), so a
  /// one-layer chain gives exactly that model's probabilities. Does not allocate.
  public func applyHeadActivation(_ values: UnsafeMutableBufferPointer<Float>) {
    headActivation.apply(values, kernel: kernel)
  }

  /// Steps over `[frameCount, inputSize]` frames and returns the outputs of the frames that
  /// produced one, `[produced, outputSize]` (before the output activation). Allocates its result.
  public func run(sequence: [Float], frameCount: Int, state: LayerChainState) -> [Float] {
    precondition(sequence.count == frameCount * inputSize, "frames are not [\(frameCount), \(inputSize)]")
    var outputs: [Float] = []
    var frame = [Float](repeating: 0, count: outputSize)
    sequence.withUnsafeBufferPointer { all in
      frame.withUnsafeMutableBufferPointer { y in
        for t in 0..<frameCount {
          let x = UnsafeBufferPointer(rebasing: all[(t * inputSize)..<((t + 1) * inputSize)])
          if step(x, state: state, output: y) { outputs.append(contentsOf: y) }
        }
        finish(state: state, output: y) { outputs.append(contentsOf: $0) }
      }
    }
    return outputs
  }

  @inline(__always)
  func normalise(_ x: UnsafeMutablePointer<Float>, _ norm: LayerNorm) {
    let count = norm.size
    var sum = 0.0
    for index in 0..<count { sum += Double(x[index]) }
    let mean = sum / Double(count)
    var squares = 0.0
    for index in 0..<count {
      let d = Double(x[index]) - mean
      squares += d * d
    }
    let inverse = 1 / (squares / Double(count) + Double(norm.epsilon)).squareRoot()
    norm.gamma.withUnsafeBufferPointer { g in
      norm.beta.withUnsafeBufferPointer { b in
        for index in 0..<count { x[index] = Float((Double(x[index]) - mean) * inverse) * g[index] + b[index] }
      }
    }
  }

  /// `x ← x ⊙ scale + shift`, per feature.
  @inline(__always)
  func applyAffine(_ x: UnsafeMutablePointer<Float>, scale: [Float], shift: [Float]) {
    scale.withUnsafeBufferPointer { s in
      shift.withUnsafeBufferPointer { b in
        for feature in 0..<s.count { x[feature] = x[feature] * s[feature] + b[feature] }
      }
    }
  }

  /// Frame stacking: `y = [the last frames−1 inputs (history, oldest first); x]`, then the history
  /// moves on by one frame.
  @inline(__always)
  func stack(
    _ x: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>,
    history: UnsafeMutablePointer<Float>,
    frames: Int, size: Int
  ) {
    let kept = (frames - 1) * size
    y.update(from: history, count: kept)
    (y + kept).update(from: x, count: size)
    if kept > 0 { history.update(from: y + size, count: kept) }
  }

  /// A depthwise convolution's per-channel dot products over `window`.
  @inline(__always)
  func depthwise(
    _ conv: CausalConv1d, _ window: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>
  ) {
    let channels = conv.inputs
    conv.depthwiseWeights.withUnsafeBufferPointer { w in
      conv.bias.withUnsafeBufferPointer { b in
        for channel in 0..<channels {
          var sum = b[channel]
          for tap in 0..<conv.kernel {
            sum += w[channel * conv.kernel + tap] * window[tap * channels + channel]
          }
          y[channel] = sum
        }
      }
    }
  }

  /// One causal convolution step's input: the window `[x(t−(k−1)d), …, x(t)]` (oldest first) from
  /// the ring of past inputs, which then takes `x`. The product follows (packed matrix × vector, or
  /// ``depthwise(_:_:into:)``).
  @inline(__always)
  func gatherWindow(
    _ conv: CausalConv1d, _ x: UnsafeMutablePointer<Float>, history: UnsafeMutablePointer<Float>,
    position: inout Int, window: UnsafeMutablePointer<Float>
  ) {
    let channels = conv.inputs
    let kept = conv.historyFrames
    // The ring holds `kept` frames; `position` is the slot of the oldest.
    for tap in 0..<conv.kernel {
      let back = (conv.kernel - 1 - tap) * conv.dilation  // frames before t
      let target = window + tap * channels
      if back == 0 {
        target.update(from: x, count: channels)
      } else {
        let slot = (position + kept - back) % kept
        target.update(from: history + slot * channels, count: channels)
      }
    }
    if kept > 0 {
      (history + position * channels).update(from: x, count: channels)
      position = position + 1 == kept ? 0 : position + 1
    }
  }
}

/// One stream's state in a ``LayerChain``: every recurrent layer's `h`/`c`, the convolution and
/// stacking histories, the subsampling counters, and the scratch a step needs — allocated at
/// ``LayerChain/makeState()``. Carried across calls; ``reset()`` returns it to the start of a
/// stream. Use from one thread at a time.
public final class LayerChainState {
  let chain: LayerChain
  /// The recurrent layers' states, in chain order (copies: a step after a copy was taken copies the
  /// state's storage once, as a value should).
  public var recurrent: [RecurrentState] {
    Array(UnsafeBufferPointer(start: recurrentStates, count: recurrentCount))
  }
  /// `[recurrentCount]`: the recurrent layers' states, in a buffer of their own (an array element
  /// taken `inout` costs a uniqueness check and an exclusivity check per step).
  let recurrentStates: UnsafeMutablePointer<RecurrentState>
  let recurrentCount: Int
  /// All histories, one region per layer (`historyOffsets`).
  let histories: UnsafeMutablePointer<Float>
  let historyOffsets: UnsafeMutablePointer<Int>
  let historyCount: Int
  /// Per layer: a conv ring's oldest slot, or a subsampler's phase.
  let positions: UnsafeMutablePointer<Int>
  /// Per layer: outputs still to drop (a centred convolution's first `lookahead`).
  let skips: UnsafeMutablePointer<Int>
  /// Ping-pong buffers of ``LayerChain/width`` floats, and the conv window.
  let ping: UnsafeMutablePointer<Float>
  let pong: UnsafeMutablePointer<Float>
  let window: UnsafeMutablePointer<Float>

  init(chain: LayerChain) {
    self.chain = chain
    let layers = chain.layers
    let states = layers.compactMap { layer -> RecurrentState? in
      if case .recurrent(let model) = layer { return try? model.makeStepState() }
      return nil
    }
    recurrentCount = states.count
    recurrentStates = .allocate(capacity: max(1, states.count))
    recurrentStates.initialize(from: states, count: states.count)
    historyOffsets = .allocate(capacity: layers.count)
    var total = 0
    for (index, layer) in layers.enumerated() {
      historyOffsets[index] = total
      total += layer.historyFloats
    }
    historyCount = total
    histories = .allocate(capacity: max(total, 1))
    positions = .allocate(capacity: layers.count)
    skips = .allocate(capacity: layers.count)
    for (index, layer) in layers.enumerated() {
      if case .conv1d(let conv) = layer {
        (skips + index).initialize(to: conv.lookahead)
      } else {
        (skips + index).initialize(to: 0)
      }
    }
    ping = .allocate(capacity: chain.width)
    pong = .allocate(capacity: chain.width)
    window = .allocate(capacity: max(chain.windowWidth, 1))
    ping.initialize(repeating: 0, count: chain.width)
    pong.initialize(repeating: 0, count: chain.width)
    window.initialize(repeating: 0, count: max(chain.windowWidth, 1))
    histories.initialize(repeating: 0, count: max(total, 1))
    positions.initialize(repeating: 0, count: layers.count)
    for index in 0..<recurrentCount {
      if let start = chain.initialStates[index] {
        try? recurrentStates[index].setH(start.h)
        if let c = start.c { try? recurrentStates[index].setC(c) }
      }
    }
  }

  /// The ping buffer when `ping`, else the pong buffer.
  @inline(__always)
  func buffer(_ ping: Bool) -> UnsafeMutablePointer<Float> { ping ? self.ping : pong }

  deinit {
    recurrentStates.deinitialize(count: recurrentCount).deallocate()
    histories.deallocate()
    historyOffsets.deallocate()
    positions.deallocate()
    skips.deallocate()
    ping.deallocate()
    pong.deallocate()
    window.deallocate()
  }

  /// Back to the start of a stream: recurrent states at their initial values (zeros unless the chain
  /// gives `h_0`/`c_0`), histories and counters zero. Does not allocate.
  public func reset() {
    for index in 0..<recurrentCount {
      recurrentStates[index].reset()
      if let start = chain.initialStates[index] {
        try? recurrentStates[index].setH(start.h)
        if let c = start.c { try? recurrentStates[index].setC(c) }
      }
    }
    histories.update(repeating: 0, count: max(historyCount, 1))
    positions.update(repeating: 0, count: chain.storage.count)
    for index in 0..<chain.storage.count {
      if case .conv1d(let conv) = chain.storage[index] {
        skips[index] = conv.lookahead
      } else {
        skips[index] = 0
      }
    }
  }
}

/// A recurrent layer's starting state: `h` `[L·D, H_out]` and, for an LSTM, `c` `[L·D, H]`,
/// row-major (PyTorch's `h_0`, `c_0` for one sequence).
public struct RecurrentInitialState: Sendable, Equatable {
  /// `h_0`.
  public let h: [Float]
  /// `c_0` (LSTM only).
  public let c: [Float]?

  /// A starting state.
  public init(h: [Float], c: [Float]? = nil) {
    self.h = h
    self.c = c
  }
}
