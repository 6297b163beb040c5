/// The recurrent cell type, named as in the model file's `kind` metadata.
public enum RecurrentKind: String, Sendable, CaseIterable {
  /// `nn.GRU`: gates r|z|n.
  case gru
  /// `nn.LSTM`: gates i|f|g|o, optional `proj_size`.
  case lstm
  /// `nn.RNN(nonlinearity="tanh")`.
  case rnnTanh = "rnn_tanh"
  /// `nn.RNN(nonlinearity="relu")`.
  case rnnRelu = "rnn_relu"

  /// Rows of `weight_ih`/`weight_hh` per hidden unit: how many gates the cell stacks.
  public var gateCount: Int {
    switch self {
    case .gru: 3
    case .lstm: 4
    case .rnnTanh, .rnnRelu: 1
    }
  }
}

/// What the classifier head applies to its logits to make the per-frame outputs users see.
public enum HeadActivation: String, Sendable, CaseIterable {
  /// Softmax over the classes.
  case softmax
  /// Independent sigmoid per class (multi-label, or one "probability of speech" output).
  case sigmoid
  /// Raw logits.
  case none

  /// Applies the activation in place on `kernel`'s functions (the softmax is the kernel's own), the
  /// same code every model's head uses. Does not allocate or lock.
  public func apply(_ values: UnsafeMutableBufferPointer<Float>, kernel: RecurrentKernel = .preferred) {
    // Plain pointer loops: generic collection algorithms here could instantiate runtime metadata
    // (an allocation) on their first call from a real-time thread.
    guard let v = values.baseAddress, values.count > 0 else { return }
    switch self {
    case .none:
      return
    case .sigmoid:
      for index in 0..<values.count { v[index] = Recurrent.sigmoid(v[index]) }
    case .softmax:
      // Subtracting the maximum keeps exp from overflowing; the result is unchanged.
      kernel.softmax(v, values.count)
    }
  }
}

/// What the classifier head applies to the last layer's output before its Linear layer (Silero VAD
/// has a ReLU there).
public enum HeadInputActivation: String, Sendable, CaseIterable {
  /// The Linear layer reads `h` as is.
  case none
  /// The Linear layer reads `max(h, 0)`.
  case relu
}

/// A dense float32 tensor in row-major (C) order, as PyTorch's `state_dict` holds it.
public struct FloatTensor: Sendable, Equatable {
  /// Sizes of each dimension, outermost first.
  public let shape: [Int]
  /// `shape.reduce(1, *)` values, row-major.
  public let values: [Float]

  /// Wraps `values` with `shape`; the element count must match the shape.
  public init(shape: [Int], values: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
    precondition(shape.reduce(1, *) == values.count, "\(values.count) values for shape \(shape)")
    self.shape = shape
    self.values = values
  }
}
