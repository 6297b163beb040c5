import Recurrent

/// Working memory for stepping several streams of one ``LayerChain`` together
/// (``LayerChain/stepBatch(_:)``): the entries (a stream's state and its frame), and the pointer
/// arrays the batched products read. Allocated once, at ``init(chain:capacity:)``; appending,
/// stepping and clearing do not allocate.
///
/// Not thread-safe: one per stepping thread. An entry's state must not be touched by anything else
/// between ``append(_:input:)`` and the end of the step, and a state may be in a batch once.
public final class LayerChainBatch {
  /// The chain whose states it takes.
  public let chain: LayerChain
  /// Entries it holds at most.
  public let capacity: Int
  /// Entries appended since the last ``removeAll()``.
  public private(set) var count = 0
  /// `[capacity]`: each entry's state, retained from ``append(_:input:)`` to ``removeAll()`` (held
  /// as `Unmanaged` values: storing optional references through a pointer allocates in debug builds).
  let states: UnsafeMutablePointer<Unmanaged<LayerChainState>>
  /// `[capacity]`: entries still advancing through the current step, in entry order.
  let active: UnsafeMutablePointer<Int>
  /// `[capacity]`: whether the entry's frame produced an output, and where it is.
  let produced: UnsafeMutablePointer<Bool>
  let results: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  /// `[capacity]`: a batched product's inputs and outputs.
  let xs: UnsafeMutablePointer<UnsafePointer<Float>>
  let ys: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  /// The recurrent layers' batch.
  let recurrent: RecurrentBatch

  /// Room for `capacity` (≥ 1) streams of `chain`.
  public init(chain: LayerChain, capacity: Int) {
    precondition(capacity >= 1, "a batch holds at least one entry")
    self.chain = chain
    self.capacity = capacity
    states = .allocate(capacity: capacity)
    active = .allocate(capacity: capacity)
    active.initialize(repeating: 0, count: capacity)
    produced = .allocate(capacity: capacity)
    produced.initialize(repeating: false, count: capacity)
    // Pointers are trivial: each is written before it is read.
    results = .allocate(capacity: capacity)
    xs = .allocate(capacity: capacity)
    ys = .allocate(capacity: capacity)
    recurrent = RecurrentBatch(capacity: capacity)
  }

  deinit {
    removeAll()
    states.deallocate()
    active.deallocate()
    produced.deallocate()
    results.deallocate()
    xs.deallocate()
    ys.deallocate()
  }

  /// Adds a stream's next frame (``LayerChain/inputSize`` floats, copied now); returns its entry
  /// index. Does not allocate.
  @discardableResult
  public func append(_ state: LayerChainState, input: UnsafeBufferPointer<Float>) -> Int {
    precondition(count < capacity, "the batch is full")
    precondition(state.chain === chain, "state of another chain")
    precondition(input.count == chain.inputSize, "frame sizes do not match the chain")
    state.ping.update(from: input.baseAddress!, count: chain.inputSize)
    (states + count).initialize(to: .passRetained(state))
    produced[count] = false
    count += 1
    return count - 1
  }

  /// The state of the `position`-th entry still advancing.
  @inline(__always)
  func state(_ position: Int) -> LayerChainState { states[active[position]].takeUnretainedValue() }

  /// Empties the batch (and lets go of its states).
  public func removeAll() {
    for entry in 0..<count { states[entry].release() }
    count = 0
  }

  /// After ``LayerChain/stepBatch(_:)``: whether entry `entry`'s frame produced an output (false
  /// when a subsampler dropped it or a centred convolution is still filling).
  public func producedOutput(_ entry: Int) -> Bool {
    precondition(entry >= 0 && entry < count, "no such batch entry")
    return produced[entry]
  }

  /// After ``LayerChain/stepBatch(_:)``: entry `entry`'s ``LayerChain/outputSize`` outputs (before
  /// the output activation), in its state's own buffer: valid until that state steps again.
  public func output(_ entry: Int) -> UnsafeMutableBufferPointer<Float> {
    precondition(entry >= 0 && entry < count && produced[entry], "that batch entry produced no output")
    return UnsafeMutableBufferPointer(start: results[entry], count: chain.outputSize)
  }
}

extension LayerChain {
  /// Advances every stream in `batch` by its frame, layer by layer: the matrix products of Linear
  /// layers, convolutions and recurrent layers run once over the weights for all the streams still
  /// advancing (``PackedMatrix/multiplyBatch(_:into:count:)``, ``RecurrentModel/stepBatch(_:count:)``),
  /// the rest per stream. Each stream's output and new state equal what ``step(_:state:output:)``
  /// gives it, bit for bit. Read the results with ``LayerChainBatch/producedOutput(_:)`` and
  /// ``LayerChainBatch/output(_:)``.
  ///
  /// Real-time safe: does not allocate, lock, throw or do I/O.
  public func stepBatch(_ batch: LayerChainBatch) {
    precondition(batch.chain === self, "a batch of another chain")
    var activeCount = batch.count
    for entry in 0..<activeCount { batch.active[entry] = entry }
    // Every active entry has run the same layers, so all hold their frame in the same buffer.
    // (Plain loops, no local closures: captured variables cost allocations in debug builds.)
    var inPing = true
    var recurrentIndex = 0
    for index in 0..<storage.count {
      guard activeCount > 0 else { break }
      switch storage[index] {
      case .affine(let scale, let shift):
        for position in 0..<activeCount {
          applyAffine(batch.state(position).buffer(inPing), scale: scale, shift: shift)
        }
        continue
      case .activation(let activation, let size):
        for position in 0..<activeCount {
          activation.apply(batch.state(position).buffer(inPing), count: size)
        }
        continue
      case .layerNorm(let norm):
        for position in 0..<activeCount { normalise(batch.state(position).buffer(inPing), norm) }
        continue
      case .linear(let linear):
        for position in 0..<activeCount {
          let s = batch.state(position)
          batch.xs[position] = UnsafePointer(s.buffer(inPing))
          batch.ys[position] = s.buffer(!inPing)
        }
        linear.matrix.multiplyBatch(batch.xs, into: batch.ys, count: activeCount)
      case .conv1d(let conv):
        for position in 0..<activeCount {
          let s = batch.state(position)
          gatherWindow(
            conv, s.buffer(inPing), history: s.histories + s.historyOffsets[index],
            position: &s.positions[index],
            window: s.window)
          batch.xs[position] = UnsafePointer(s.window)
          batch.ys[position] = s.buffer(!inPing)
        }
        if let matrix = conv.matrix {
          matrix.multiplyBatch(batch.xs, into: batch.ys, count: activeCount)
        } else {
          for position in 0..<activeCount {
            let s = batch.state(position)
            depthwise(conv, s.window, into: s.buffer(!inPing))
          }
        }
        // A centred convolution's first outputs belong to frames before the stream.
        var kept = 0
        for position in 0..<activeCount {
          let s = batch.state(position)
          if s.skips[index] > 0 {
            s.skips[index] -= 1
          } else {
            batch.active[kept] = batch.active[position]
            kept += 1
          }
        }
        activeCount = kept
      case .recurrent(let model):
        for position in 0..<activeCount {
          let s = batch.state(position)
          batch.recurrent.set(
            position, input: s.buffer(inPing), state: &s.recurrentStates[recurrentIndex],
            output: s.buffer(!inPing))
        }
        model.stepBatch(batch.recurrent, count: activeCount)
        recurrentIndex += 1
      case .textbookGRU(let gru):
        for position in 0..<activeCount {
          let s = batch.state(position)
          gru.step(s.buffer(inPing), into: s.buffer(!inPing), state: s.histories + s.historyOffsets[index])
        }
      case .frameStack(let frames, let size):
        for position in 0..<activeCount {
          let s = batch.state(position)
          stack(
            s.buffer(inPing), into: s.buffer(!inPing), history: s.histories + s.historyOffsets[index],
            frames: frames, size: size)
        }
      case .subsample(let every, _):
        var kept = 0
        for position in 0..<activeCount {
          let s = batch.state(position)
          let phase = s.positions[index]
          s.positions[index] = phase + 1 == every ? 0 : phase + 1
          if phase == 0 {
            batch.active[kept] = batch.active[position]
            kept += 1
          }
        }
        activeCount = kept
        continue
      }
      inPing.toggle()
    }
    for position in 0..<activeCount {
      let entry = batch.active[position]
      batch.produced[entry] = true
      batch.results[entry] = batch.state(position).buffer(inPing)
    }
  }
}
