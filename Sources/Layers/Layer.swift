import Recurrent

/// Why a chain of layers cannot be built: one line naming the layer (its index and kind) and what
/// does not fit.
public struct LayerChainError: Error, Equatable, CustomStringConvertible {
  /// One line.
  public let description: String
}

/// `nn.Linear` / Keras `Dense`: `y = W x + b`, `W` `[out, in]` (PyTorch's layout), packed once for
/// the recurrent step's SIMD kernels.
public struct Linear: Sendable {
  /// Input features.
  public let inputs: Int
  /// Output features.
  public let outputs: Int
  let matrix: PackedMatrix

  /// From `weight` `[outputs, inputs]` row-major and an optional `bias` `[outputs]`.
  public init(
    weight: [Float], bias: [Float]?, inputs: Int, outputs: Int, kernel: RecurrentKernel = .preferred
  )
    throws(LayerChainError)
  {
    guard inputs > 0, outputs > 0, weight.count == inputs * outputs, bias == nil || bias!.count == outputs
    else {
      throw LayerChainError(
        description:
          "linear: weight has \(weight.count) values and bias \(bias?.count ?? 0) for [\(outputs), \(inputs)]"
      )
    }
    self.inputs = inputs
    self.outputs = outputs
    matrix = PackedMatrix(
      rows: outputs, columns: inputs, kernel: kernel, weight: { weight[$0 * inputs + $1] },
      bias: { bias?[$0] ?? 0 })
  }
}

/// An `nn.Conv1d` over time (stride 1, groups 1 or depthwise), PyTorch's weight layout
/// `[out, in/groups, k]`, keeping the last `(k−1)·d` input frames as state.
///
/// *Causal* (``lookahead`` 0): frame `t`'s output uses frames `t − (k−1)·d … t` (zeros before the
/// stream), so it streams with no added latency: `F.pad(x, ((k−1)·d, 0))` before the conv, or
/// Keras `padding="causal"`. *Centred* (`padding=(k−1)·d/2` on both sides): frame `t`'s output
/// needs frames up to `t + L`, `L = (k−1)·d/2`, so it comes out when frame `t + L` has arrived
/// (the chain drops the first `L` outputs and flushes the last `L` with zeros at the end, as
/// PyTorch's zero padding does).
public struct CausalConv1d: Sendable {
  /// Input channels (features per frame).
  public let inputs: Int
  /// Output channels.
  public let outputs: Int
  /// Kernel width, frames.
  public let kernel: Int
  /// Dilation, frames.
  public let dilation: Int
  /// Whether each channel is convolved alone (groups = channels, one filter each).
  public let depthwise: Bool
  /// Groups 1: `[out, k·in]`, column `j·in + c` = `W[o, c, j]` (the window oldest frame first).
  let matrix: PackedMatrix?
  /// Depthwise: `[c, k]` weights and `[c]` bias.
  let depthwiseWeights: [Float]
  let bias: [Float]

  /// Frames of the future each output needs: 0 causal, `(k−1)·d/2` centred.
  public let lookahead: Int

  /// Input frames kept as state.
  public var historyFrames: Int { (kernel - 1) * dilation }

  /// From PyTorch's `weight` `[outputs, inputs/groups, kernel]` and optional `bias` `[outputs]`;
  /// `groups` is 1 or `inputs` (depthwise, `outputs == inputs`).
  public init(
    weight: [Float], bias: [Float]?, inputs: Int, outputs: Int, kernel: Int, dilation: Int = 1,
    groups: Int = 1, centred: Bool = false,
    kernelSet: RecurrentKernel = .preferred
  ) throws(LayerChainError) {
    func fail(_ text: String) -> LayerChainError { LayerChainError(description: "conv1d: " + text) }
    guard (1...4096).contains(inputs), (1...4096).contains(outputs), (1...1024).contains(kernel),
      (1...1024).contains(dilation)
    else {
      throw fail(
        "channels 1 to 4096, kernel and dilation 1 to 1024 (got \(inputs)→\(outputs), k \(kernel), d \(dilation))"
      )
    }
    guard groups == 1 || (groups == inputs && outputs == inputs) else {
      throw fail("groups must be 1 or the channel count with as many outputs (got \(groups))")
    }
    let perGroup = groups == 1 ? inputs : 1
    guard weight.count == outputs * perGroup * kernel, bias == nil || bias!.count == outputs else {
      throw fail("weight has \(weight.count) values for [\(outputs), \(perGroup), \(kernel)]")
    }
    guard !centred || ((kernel - 1) * dilation) % 2 == 0 else {
      throw fail("a centred convolution needs an even (k−1)·d (got k \(kernel), d \(dilation))")
    }
    self.inputs = inputs
    self.outputs = outputs
    self.kernel = kernel
    self.dilation = dilation
    lookahead = centred ? (kernel - 1) * dilation / 2 : 0
    depthwise = groups != 1
    self.bias = bias ?? [Float](repeating: 0, count: outputs)
    if depthwise {
      depthwiseWeights = weight
      matrix = nil
    } else {
      depthwiseWeights = []
      let biasValues = self.bias
      matrix = PackedMatrix(
        rows: outputs, columns: kernel * inputs, kernel: kernelSet,
        weight: { row, column in weight[(row * inputs + column % inputs) * kernel + column / inputs] },
        bias: { biasValues[$0] })
    }
  }
}

/// `nn.LayerNorm(features)` over one frame: `(x − mean) / √(var + ε) · γ + β`, the biased variance,
/// statistics accumulated in double precision.
public struct LayerNorm: Sendable {
  /// Features.
  public let size: Int
  let gamma: [Float]
  let beta: [Float]
  let epsilon: Float

  /// From `weight` (γ) and `bias` (β), each `[size]` (nil: 1 and 0, `elementwise_affine=False`).
  public init(size: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float = 1e-5) throws(LayerChainError) {
    guard size > 0, gamma == nil || gamma!.count == size, beta == nil || beta!.count == size,
      epsilon >= 0, epsilon.isFinite
    else {
      throw LayerChainError(description: "layer norm: γ and β must have \(size) values, ε ≥ 0")
    }
    self.size = size
    self.gamma = gamma ?? [Float](repeating: 1, count: size)
    self.beta = beta ?? [Float](repeating: 0, count: size)
    self.epsilon = epsilon
  }
}

/// One layer of a streaming chain. Each streams one frame at a time; those that need the past keep
/// it in the chain's state (``LayerChainState``).
public enum Layer: Sendable {
  /// Per-feature `x · scale + shift`: CMVN `(x − mean) / std`, a Keras `Normalization`, a constant
  /// add/sub/mul/div, and BatchNorm in eval mode (`scale = γ/√(var+ε)`, `shift = β − mean·scale`).
  case affine(scale: [Float], shift: [Float])
  /// `y = W x + b`.
  case linear(Linear)
  /// An element-wise activation over `size` features.
  case activation(Activation, size: Int)
  /// Layer normalisation over the features.
  case layerNorm(LayerNorm)
  /// A causal convolution over time.
  case conv1d(CausalConv1d)
  /// A GRU/LSTM/RNN stack, PyTorch-exact, its `h`/`c` carried in the state. A head inside it, if
  /// any, gives logits (its activation is not applied: the chain's is).
  case recurrent(RecurrentModel)
  /// The textbook GRU (reset before the recurrent matrix; Keras `reset_after=False`), its `h`
  /// carried in the state.
  case textbookGRU(TextbookGRU)
  /// The last `frames` frames concatenated, oldest first (zeros before the stream): `frames · size`
  /// features per frame, one out per frame in.
  case frameStack(frames: Int, size: Int)
  /// Passes frames 0, n, 2n, … of the stream and drops the others (the stream's output rate
  /// becomes 1/n).
  case subsample(every: Int, size: Int)

  /// Features in.
  public var inputSize: Int {
    switch self {
    case .affine(let scale, _): scale.count
    case .linear(let linear): linear.inputs
    case .activation(_, let size): size
    case .layerNorm(let norm): norm.size
    case .conv1d(let conv): conv.inputs
    case .recurrent(let model): model.inputSize
    case .textbookGRU(let gru): gru.inputs
    case .frameStack(_, let size): size
    case .subsample(_, let size): size
    }
  }

  /// Features out.
  public var outputSize: Int {
    switch self {
    case .affine(let scale, _): scale.count
    case .linear(let linear): linear.outputs
    case .activation(_, let size): size
    case .layerNorm(let norm): norm.size
    case .conv1d(let conv): conv.outputs
    case .recurrent(let model): model.outputSize
    case .textbookGRU(let gru): gru.hidden
    case .frameStack(let frames, let size): frames * size
    case .subsample(_, let size): size
    }
  }

  /// A short name for messages.
  public var kindName: String {
    switch self {
    case .affine: "affine"
    case .linear: "linear"
    case .activation: "activation"
    case .layerNorm: "layer norm"
    case .conv1d: "conv1d"
    case .recurrent(let model): model.kind.rawValue
    case .textbookGRU: "textbook GRU"
    case .frameStack: "frame stack"
    case .subsample: "subsample"
    }
  }

  /// Floats of carried state (conv and stacking histories).
  var historyFloats: Int {
    switch self {
    case .conv1d(let conv): conv.historyFrames * conv.inputs
    case .frameStack(let frames, let size): (frames - 1) * size
    case .textbookGRU(let gru): gru.stateFloats
    default: 0
    }
  }

  /// Checks the layer's own parameters.
  func validate(index: Int) throws(LayerChainError) {
    func fail(_ text: String) -> LayerChainError {
      LayerChainError(description: "layer \(index) (\(kindName)): \(text)")
    }
    switch self {
    case .affine(let scale, let shift):
      guard !scale.isEmpty, scale.count == shift.count else {
        throw fail("scale and shift must have as many values")
      }
      guard (scale + shift).allSatisfy(\.isFinite) else { throw fail("scale and shift must be finite") }
    case .activation(let activation, let size):
      guard size > 0 else { throw fail("size must be positive") }
      if case .prelu(let weights) = activation, weights.count != 1 && weights.count != size {
        throw fail("PReLU has \(weights.count) weights for \(size) features (1 or one per feature)")
      }
    case .recurrent(let model):
      guard !model.isBidirectional else {
        throw fail(
          "bidirectional: it needs the future, so it runs offline only (streamrnn step, OfflineChain)")
      }
    case .frameStack(let frames, let size):
      // At most 2^20 floats out per frame (4 MiB): a stack's width sizes every state's buffers.
      guard (1...1024).contains(frames), (1...1_048_576).contains(size), frames * size <= 1 << 20 else {
        throw fail("frames 1 to 1024, size 1 to 2^20, frames × size at most 2^20 (got \(frames) × \(size))")
      }
    case .subsample(let every, let size):
      guard (1...1024).contains(every), (1...1_048_576).contains(size) else {
        throw fail("every 1 to 1024, size 1 to 2^20 (got \(every), \(size))")
      }
    case .linear, .layerNorm, .conv1d, .textbookGRU:
      break
    }
  }
}
