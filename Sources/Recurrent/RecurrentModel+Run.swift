extension RecurrentModel {
  /// Advances the stack by one frame and writes the step's output.
  ///
  /// Layer `k+1` takes layer `k`'s new `h`; the output is the head's logits (`[C]`, before
  /// ``HeadActivation``) when the model has a head, else the last layer's `h` (`[H_out]`).
  /// `state` carries `h`/`c` to the next call.
  ///
  /// Real-time safe: does not allocate, lock, throw or do I/O (given a `state` that is not shared
  /// with a copy). Sizes are checked with preconditions, which trap on programmer error.
  /// Make one call before real-time use: the Swift runtime may instantiate type metadata on a
  /// function's very first call in a process (a one-time allocation), never on later calls.
  ///
  /// - Parameters:
  ///   - input: One frame, `[input_size]` floats.
  ///   - state: Made by ``makeStepState()`` or ``makeState()`` for this model.
  ///   - output: ``outputSize`` floats.
  /// - Precondition: the model is not bidirectional (``makeStepState()`` reports that as an error).
  public func step(
    _ input: UnsafeBufferPointer<Float>, state: inout RecurrentState,
    output: UnsafeMutableBufferPointer<Float>
  ) {
    precondition(!isBidirectional, "bidirectional models run only through run(sequence:)")
    precondition(input.count == inputSize, "input has \(input.count) floats, expected \(inputSize)")
    precondition(output.count == outputSize, "output has \(output.count) floats, expected \(outputSize)")
    precondition(state.slotCount == layerCount && state.hiddenSize == hiddenSize, "state of another model")
    let inputSlotOffset = state.inputSlotOffset
    let slotCount = state.slotCount
    let hiddenOut = hiddenOutputSize
    let cellOffset = state.cellOffset
    let scratchOffset = state.scratchOffset
    let s = state.mutableBase()
    if let offset = singleOneVectorGRU {
      // One small GRU layer and nothing after it: one kernel call reads the frame and writes h and
      // the output (the general loop below costs about 20 ns more per step on gru1x16).
      stepOneVectorGRU(offset, x: input.baseAddress!, inputSize: inputSize, h: s, copy: output.baseAddress!)
      return
    }
    let backward = alternatesTraversal && state.readsPanelsBackward
    if alternatesTraversal { state.readsPanelsBackward.toggle() }
    descriptors.withUnsafeBufferPointer { descriptorBuffer in
      let d = descriptorBuffer.baseAddress!
      // The state's layout puts [h_0; x] and each [h_k; h_(k-1)] side by side (see
      // RecurrentState.buffer): one copy of the frame, then every layer reads its u in place.
      // A first cell that is a one-vector GRU reads the frame where it is.
      if !readsFrameInPlace { (s + inputSlotOffset).update(from: input.baseAddress!, count: inputSize) }
      for layer in 0..<layerCount {
        let h = s + RecurrentState.hiddenRowOffset(layer, slotCount: slotCount, width: hiddenOut)
        updateCell(
          cells[layer], descriptors: d, u: UnsafePointer(h), x: layer == 0 ? input.baseAddress! : nil, h: h,
          c: s + cellOffset + layer * hiddenSize, scratch: s + scratchOffset,
          copy: layer == layerCount - 1 && writesOutputInPlace ? output.baseAddress! : nil, backward: backward
        )
      }
      if writesOutputInPlace { return }
      let last = UnsafePointer(
        s + RecurrentState.hiddenRowOffset(layerCount - 1, slotCount: slotCount, width: hiddenOut))
      writeOutput(from: last, descriptors: d, scratch: s + scratchOffset, into: output.baseAddress!)
    }
  }

  /// Steps over `[frameCount, input_size]` frames one ``step(_:state:output:)`` at a time (the
  /// live path, offline), returning `[frameCount, outputSize]`. Allocates its result.
  public func stepEach(frames: [Float], frameCount: Int, state: inout RecurrentState) -> [Float] {
    precondition(frames.count == frameCount * inputSize, "frames are not [\(frameCount), \(inputSize)]")
    var outputs = [Float](repeating: 0, count: frameCount * outputSize)
    frames.withUnsafeBufferPointer { input in
      outputs.withUnsafeMutableBufferPointer { output in
        for t in 0..<frameCount {
          step(
            UnsafeBufferPointer(rebasing: input[(t * inputSize)..<((t + 1) * inputSize)]), state: &state,
            output: UnsafeMutableBufferPointer(rebasing: output[(t * outputSize)..<((t + 1) * outputSize)]))
        }
      }
    }
    return outputs
  }

  /// Runs a whole sequence, as PyTorch's module call on a `[T, input_size]` input does.
  ///
  /// Unidirectional results equal ``step(_:state:output:)`` frame by frame bit for bit (the same
  /// cell code runs in the same order). Bidirectional models run here only: each layer runs
  /// forward over all frames, then backward, and the next layer takes both outputs concatenated.
  /// Allocates its result and working buffers: not for the real-time path.
  ///
  /// - Parameters:
  ///   - sequence: `[T, input_size]` row-major.
  ///   - frameCount: `T`.
  ///   - state: `h_0`/`c_0` on entry, `h_n`/`c_n` on return.
  /// - Returns: `[T, outputSize]`: logits with a head, else the last layer's `D*H_out` outputs.
  public func run(sequence: [Float], frameCount: Int, state: inout RecurrentState) -> [Float] {
    precondition(sequence.count == frameCount * inputSize, "sequence is not [\(frameCount), \(inputSize)]")
    precondition(
      state.slotCount == layerCount * directionCount && state.hiddenSize == hiddenSize,
      "state of another model")
    let hiddenOut = hiddenOutputSize
    let directions = directionCount
    let slotCount = state.slotCount
    let cellOffset = state.cellOffset
    let scratchOffset = state.scratchOffset
    var layerInput = sequence
    var layerInputWidth = inputSize
    var result = [Float](repeating: 0, count: frameCount * outputSize)
    let s = state.mutableBase()
    descriptors.withUnsafeBufferPointer { descriptorBuffer in
      let d = descriptorBuffer.baseAddress!
      for layer in 0..<layerCount {
        // [T, D*H_out]: this layer's outputs, the next layer's inputs.
        var layerOutput = [Float](repeating: 0, count: frameCount * directions * hiddenOut)
        layerInput.withUnsafeBufferPointer { inputBuffer in
          layerOutput.withUnsafeMutableBufferPointer { outputBuffer in
            for direction in 0..<directions {
              let slot = layer * directions + direction
              let h = s + RecurrentState.hiddenRowOffset(slot, slotCount: slotCount, width: hiddenOut)
              // u = [h; x] in scratch: here a layer's inputs are whole sequences, not next to h.
              let u = s + scratchOffset + scratchU
              for index in 0..<frameCount {
                let t = direction == 0 ? index : frameCount - 1 - index
                u.update(from: h, count: hiddenOut)
                (u + hiddenOut).update(
                  from: inputBuffer.baseAddress! + t * layerInputWidth, count: layerInputWidth)
                updateCell(
                  cells[slot], descriptors: d, u: u, h: h, c: s + cellOffset + slot * hiddenSize,
                  scratch: s + scratchOffset)
                (outputBuffer.baseAddress! + (t * directions + direction) * hiddenOut)
                  .update(from: h, count: hiddenOut)
              }
            }
          }
        }
        layerInput = layerOutput
        layerInputWidth = directions * hiddenOut
      }
      layerInput.withUnsafeBufferPointer { finalBuffer in
        result.withUnsafeMutableBufferPointer { resultBuffer in
          for t in 0..<frameCount {
            writeOutput(
              from: finalBuffer.baseAddress! + t * layerInputWidth, descriptors: d,
              scratch: s + scratchOffset,
              into: resultBuffer.baseAddress! + t * outputSize)
          }
        }
      }
    }
    return result
  }

  /// Turns head logits into outputs in place: softmax, sigmoid or nothing, per the head's
  /// ``ClassifierHead/activation``. Does not allocate or lock.
  public func applyHeadActivation(_ values: UnsafeMutableBufferPointer<Float>) {
    // Plain pointer loops: generic collection algorithms here could instantiate runtime metadata
    // (an allocation) on their first call from a real-time thread.
    guard let head else { return }
    head.activation.apply(values, kernel: kernel)
  }

  /// Writes the head's logits for `features` (`[D*H_out]`), or copies the features without a head.
  @inline(__always)
  func writeOutput(
    from features: UnsafePointer<Float>, descriptors d: UnsafePointer<Int>,
    scratch: UnsafeMutablePointer<Float>,
    into output: UnsafeMutablePointer<Float>
  ) {
    if let head, let headPanels {
      // Panels write whole vectors, so they go to scratch first; then the C logits are copied out.
      let logits = scratch + scratchPanelOutput
      multiply(
        headPanels, descriptors: d, input: headInput(features, head: head, scratch: scratch), output: logits)
      output.update(from: logits, count: head.classCount)
    } else {
      output.update(from: features, count: directionCount * hiddenOutputSize)
    }
  }

  /// The head's input for `features` (`[D*H_out]`): the features themselves, or their ReLU in
  /// `scratch` when the head applies one first (``ClassifierHead/inputActivation``).
  @inline(__always)
  func headInput(_ features: UnsafePointer<Float>, head: ClassifierHead, scratch: UnsafeMutablePointer<Float>)
    -> UnsafePointer<Float>
  {
    guard head.inputActivation == .relu else { return features }
    let rectified = scratch + scratchHeadInput
    for index in 0..<(directionCount * hiddenOutputSize) { rectified[index] = max(features[index], 0) }
    return UnsafePointer(rectified)
  }

  /// One cell update in place: `h` (`[H_out]`) and `c` (`[H]`, LSTM) become `h'` and `c'`.
  ///
  /// `u` is `[h; x]` (`[H_out + cell.inputSize]`): the gate panels read h and x from one vector.
  /// A one-vector GRU reads `x` from `x` when given (the frame, not copied), else from `u`, and
  /// writes its new `h` to `copy` too when given (the step's output). `backward` reads the gate
  /// panels from the far end (the same sums; see ``alternatesTraversal``).
  /// `scratch` holds ``scratchSize`` floats and must not overlap `u`. Formulas and gate order are
  /// PyTorch's; the kernels (see ``RecurrentKernel``) do the arithmetic.
  @inline(__always)
  func updateCell(
    _ cell: CellPlan, descriptors d: UnsafePointer<Int>, u: UnsafePointer<Float>,
    x: UnsafePointer<Float>? = nil,
    h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    copy: UnsafeMutablePointer<Float>? = nil, backward: Bool = false
  ) {
    if let offset = cell.oneVectorGRU {
      stepOneVectorGRU(offset, x: x ?? u + hiddenSize, inputSize: cell.inputSize, h: h, copy: copy)
      return
    }
    let pre = scratch + scratchPre
    if backward {
      // Float32 only (see alternatesTraversal): the same sums from the other end of the panels.
      functions.multiplyReversed(packed.base, d + 6 * cell.gates.start, cell.gates.count, u, pre)
    } else {
      multiply(cell.gates, descriptors: d, input: u, output: pre)
    }
    updateGates(cell, descriptors: d, h: h, c: c, scratch: scratch)
  }

  /// The second half of ``updateCell(_:descriptors:u:h:c:scratch:)``: the gate math on the
  /// pre-activations already in `scratch + scratchPre` (and an LSTM's projection).
  @inline(__always)
  func updateGates(
    _ cell: CellPlan, descriptors d: UnsafePointer<Int>, h: UnsafeMutablePointer<Float>,
    c: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
  ) {
    let hiddenOut = hiddenOutputSize
    let pre = scratch + scratchPre
    switch kind {
    case .gru:
      functions.gru(pre, paddedHidden, hiddenSize, h)
    case .lstm:
      if let projection = cell.projection {
        // h' = W_hr (o ⊙ tanh(c')): the projection input goes to scratch, its output is copied to h.
        let projectionInput = scratch + scratchProjectionInput
        functions.lstm(pre, paddedHidden, hiddenSize, c, projectionInput)
        let projected = scratch + scratchPanelOutput
        multiply(projection, descriptors: d, input: projectionInput, output: projected)
        h.update(from: projected, count: hiddenOut)
      } else {
        functions.lstm(pre, paddedHidden, hiddenSize, c, h)
      }
    case .rnnTanh, .rnnRelu:
      functions.rnn(pre, hiddenSize, kind == .rnnRelu, h)
    }
  }

  /// A one-vector GRU cell (its weight block at `offset`) on `x`, from the float32 or the float16
  /// weights: `h` updated in place, and copied to `copy` when given.
  @inline(__always)
  func stepOneVectorGRU(
    _ offset: Int, x: UnsafePointer<Float>, inputSize: Int, h: UnsafeMutablePointer<Float>,
    copy: UnsafeMutablePointer<Float>?
  ) {
    if let half = packed.half {
      functions.gruOneVectorHalf(half + offset, packed.base + offset, x, hiddenSize, inputSize, h, copy)
    } else {
      functions.gruOneVector(packed.base + offset, x, hiddenSize, inputSize, h, copy)
    }
  }

  /// The panels of `run` over `input` into `output`, from the float32 or the float16 weights.
  @inline(__always)
  func multiply(
    _ run: PanelRun, descriptors d: UnsafePointer<Int>, input: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>
  ) {
    if let half = packed.half {
      functions.multiplyHalf(half, packed.base, d + 6 * run.start, run.count, input, output)
    } else {
      functions.multiply(packed.base, d + 6 * run.start, run.count, input, output)
    }
  }
}
