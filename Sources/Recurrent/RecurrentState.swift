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

  /// One allocation: the `h` rows in reverse slot order (`[L*D, H_out]`, last slot first), an input
  /// slot (`[input_size]`, unidirectional models), `c` `[L*D, H]` (LSTM), then scratch.
  ///
  /// Reversed rows put each layer's `h` right before its input (the previous layer's `h`, or the
  /// input slot for layer 0), so a step finds every layer's `u = [h; x]` already contiguous: it copies
  /// the frame into the slot once and no `h` at all.
  ///
  /// At a fixed address for the buffer's life (a batched step holds several states' addresses at
  /// once, see ``RecurrentModel/stepBatch(_:count:)``); copied on write when the value is shared.
  var buffer: StateBuffer
  /// Floats in the input slot.
  let inputSlotSize: Int
  /// Whether the next step reads the gate panels from the far end (models that alternate, see
  /// ``RecurrentModel/alternatesTraversal``); the outputs are the same either way.
  var readsPanelsBackward = false
  var inputSlotOffset: Int { slotCount * hiddenOutputSize }
  var cellOffset: Int { inputSlotOffset + inputSlotSize }
  var scratchOffset: Int { cellOffset + (hasCellState ? slotCount * hiddenSize : 0) }

  /// Where slot `slot`'s `h` row starts in ``storage``.
  @inline(__always)
  func hiddenRowOffset(_ slot: Int) -> Int {
    Self.hiddenRowOffset(slot, slotCount: slotCount, width: hiddenOutputSize)
  }

  /// Where slot `slot`'s `h` row starts in a storage of `slotCount` rows of `width` floats (for
  /// callers that hold the storage's buffer and so cannot read the state's properties).
  @inline(__always)
  static func hiddenRowOffset(_ slot: Int, slotCount: Int, width: Int) -> Int {
    (slotCount - 1 - slot) * width
  }

  init(
    slotCount: Int, hiddenSize: Int, hiddenOutputSize: Int, hasCellState: Bool, inputSlotSize: Int,
    scratchSize: Int
  ) {
    self.slotCount = slotCount
    self.hiddenSize = hiddenSize
    self.hiddenOutputSize = hiddenOutputSize
    self.hasCellState = hasCellState
    self.inputSlotSize = inputSlotSize
    let stateCount = slotCount * hiddenOutputSize + (hasCellState ? slotCount * hiddenSize : 0)
    buffer = StateBuffer(count: inputSlotSize + stateCount + scratchSize)
  }

  /// The storage's address, for writing: copies the storage first when this value shares it with a
  /// copy (an allocation; never when the state is used by one owner, as streams use it).
  @inline(__always)
  mutating func mutableBase() -> UnsafeMutablePointer<Float> {
    if !isKnownUniquelyReferenced(&buffer) { buffer = StateBuffer(copying: buffer) }
    return buffer.base
  }

  /// `h_n`: `[L*D, H_out]`, row-major (a copy).
  public var h: [Float] {
    (0..<slotCount).flatMap { slot in
      UnsafeBufferPointer(start: buffer.base + hiddenRowOffset(slot), count: hiddenOutputSize)
    }
  }

  /// `c_n`: `[L*D, H]`, row-major (a copy); empty for GRU and RNN.
  public var c: [Float] {
    Array(UnsafeBufferPointer(start: buffer.base + cellOffset, count: scratchOffset - cellOffset))
  }

  /// Sets `h` (`[L*D, H_out]`, row-major), like passing `h_0` to PyTorch.
  public mutating func setH(_ values: [Float]) throws(RecurrentStateError) {
    guard values.count == inputSlotOffset else {
      throw RecurrentStateError(
        description:
          "h has \(values.count) values, expected [\(slotCount), \(hiddenOutputSize)] = \(inputSlotOffset)")
    }
    let base = mutableBase()
    values.withUnsafeBufferPointer { source in
      for slot in 0..<slotCount {
        (base + hiddenRowOffset(slot)).update(
          from: source.baseAddress! + slot * hiddenOutputSize, count: hiddenOutputSize)
      }
    }
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
    let base = mutableBase()
    values.withUnsafeBufferPointer { (base + cellOffset).update(from: $0.baseAddress!, count: $0.count) }
  }

  /// Zeros `h` and `c`, as for a fresh stream. Does not allocate or lock.
  public mutating func reset() {
    mutableBase().update(repeating: 0, count: buffer.count)
  }
}

/// A ``RecurrentState``'s floats: one allocation at a fixed address, zeros at first.
final class StateBuffer: @unchecked Sendable {
  let base: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int) {
    self.count = count
    base = .allocate(capacity: max(count, 1))
    base.initialize(repeating: 0, count: max(count, 1))
  }

  /// A copy of `other`'s floats.
  init(copying other: StateBuffer) {
    count = other.count
    base = .allocate(capacity: max(count, 1))
    base.initialize(from: other.base, count: max(count, 1))
  }

  deinit { base.deallocate() }
}
