/// Why a state cannot take the given values.
public struct RecurrentStateError: Error, Equatable, CustomStringConvertible {
  /// One line saying which part (`h` or `c`) had which shape and what was expected.
  public let description: String
}

/// The running state of a recurrent stack: every layer's `h` (and `c` for LSTMs), plus the
/// scratch memory a step needs, allocated once when the state is made.
///
/// Layouts are PyTorch's: `h` is `h_n`, `[L*D, H_out]`, and `c` is `c_n`, `[L*D, H]`, row-major,
/// rows in the order layer 0 forward, layer 0 reverse, layer 1 forward, …
///
/// The state is carried across calls by default: each step starts where the previous ended.
/// ``reset()`` returns to zeros. It is a value: a copy runs on independently. A step does not
/// allocate as long as this value is not shared with a copy (copy-on-write would then copy it once).
public struct RecurrentState: Sendable {
  /// `L * D`: rows of `h` and `c`.
  public let slotCount: Int
  /// `H`: width of a `c` row.
  public let hiddenSize: Int
  /// `H_out`: width of an `h` row.
  public let hiddenOutputSize: Int
  /// Whether there is a `c` part (LSTM).
  public let hasCellState: Bool

  /// One allocation: `h` `[L*D, H_out]`, then `c` `[L*D, H]` (LSTM), then scratch.
  var storage: [Float]
  var cellOffset: Int { slotCount * hiddenOutputSize }
  var scratchOffset: Int { cellOffset + (hasCellState ? slotCount * hiddenSize : 0) }

  init(slotCount: Int, hiddenSize: Int, hiddenOutputSize: Int, hasCellState: Bool, scratchSize: Int) {
    self.slotCount = slotCount
    self.hiddenSize = hiddenSize
    self.hiddenOutputSize = hiddenOutputSize
    self.hasCellState = hasCellState
    let stateCount = slotCount * hiddenOutputSize + (hasCellState ? slotCount * hiddenSize : 0)
    storage = [Float](repeating: 0, count: stateCount + scratchSize)
  }

  /// `h_n`: `[L*D, H_out]`, row-major (a copy).
  public var h: [Float] { Array(storage[0..<cellOffset]) }

  /// `c_n`: `[L*D, H]`, row-major (a copy); empty for GRU and RNN.
  public var c: [Float] { Array(storage[cellOffset..<scratchOffset]) }

  /// Sets `h` (`[L*D, H_out]`, row-major), like passing `h_0` to PyTorch.
  public mutating func setH(_ values: [Float]) throws(RecurrentStateError) {
    guard values.count == cellOffset else {
      throw RecurrentStateError(
        description:
          "h has \(values.count) values, expected [\(slotCount), \(hiddenOutputSize)] = \(cellOffset)")
    }
    storage.replaceSubrange(0..<cellOffset, with: values)
  }

  /// Sets `c` (`[L*D, H]`, row-major), like passing `c_0` to PyTorch; LSTMs only.
  public mutating func setC(_ values: [Float]) throws(RecurrentStateError) {
    guard hasCellState else {
      throw RecurrentStateError(description: "only LSTMs have a cell state c")
    }
    guard values.count == scratchOffset - cellOffset else {
      throw RecurrentStateError(
        description:
          "c has \(values.count) values, expected [\(slotCount), \(hiddenSize)] = \(scratchOffset - cellOffset)"
      )
    }
    storage.replaceSubrange(cellOffset..<scratchOffset, with: values)
  }

  /// Zeros `h` and `c`, as for a fresh stream. Does not allocate or lock.
  public mutating func reset() {
    storage.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
  }
}
