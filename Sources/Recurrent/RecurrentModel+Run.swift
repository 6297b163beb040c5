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
    let hiddenOut = hiddenOutputSize
    let cellOffset = state.cellOffset
    let scratchOffset = state.scratchOffset
    parameters.withUnsafeBufferPointer { parameterBuffer in
      state.storage.withUnsafeMutableBufferPointer { storageBuffer in
        let p = parameterBuffer.baseAddress!
        let s = storageBuffer.baseAddress!
        for layer in 0..<layerCount {
          let x = layer == 0 ? input.baseAddress! : UnsafePointer(s + (layer - 1) * hiddenOut)
          updateCell(
            cells[layer], parameters: p, input: x, h: s + layer * hiddenOut,
            c: s + cellOffset + layer * hiddenSize, scratch: s + scratchOffset)
        }
        let last = UnsafePointer(s + (layerCount - 1) * hiddenOut)
        writeOutput(from: last, parameters: p, into: output.baseAddress!)
      }
    }
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
    let cellOffset = state.cellOffset
    let scratchOffset = state.scratchOffset
    var layerInput = sequence
    var layerInputWidth = inputSize
    var result = [Float](repeating: 0, count: frameCount * outputSize)
    parameters.withUnsafeBufferPointer { parameterBuffer in
      state.storage.withUnsafeMutableBufferPointer { storageBuffer in
        let p = parameterBuffer.baseAddress!
        let s = storageBuffer.baseAddress!
        for layer in 0..<layerCount {
          // [T, D*H_out]: this layer's outputs, the next layer's inputs.
          var layerOutput = [Float](repeating: 0, count: frameCount * directions * hiddenOut)
          layerInput.withUnsafeBufferPointer { inputBuffer in
            layerOutput.withUnsafeMutableBufferPointer { outputBuffer in
              for direction in 0..<directions {
                let slot = layer * directions + direction
                let h = s + slot * hiddenOut
                for index in 0..<frameCount {
                  let t = direction == 0 ? index : frameCount - 1 - index
                  updateCell(
                    cells[slot], parameters: p, input: inputBuffer.baseAddress! + t * layerInputWidth,
                    h: h, c: s + cellOffset + slot * hiddenSize, scratch: s + scratchOffset)
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
                from: finalBuffer.baseAddress! + t * layerInputWidth, parameters: p,
                into: resultBuffer.baseAddress! + t * outputSize)
            }
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
    guard let head, let v = values.baseAddress, values.count > 0 else { return }
    let count = values.count
    switch head.activation {
    case .none:
      return
    case .sigmoid:
      for index in 0..<count { v[index] = sigmoid(v[index]) }
    case .softmax:
      // Subtracting the maximum keeps exp from overflowing; the result is unchanged.
      var maximum = v[0]
      for index in 1..<count where v[index] > maximum { maximum = v[index] }
      var total: Float = 0
      for index in 0..<count {
        v[index] = exponential(v[index] - maximum)
        total += v[index]
      }
      for index in 0..<count { v[index] /= total }
    }
  }

  /// Writes the head's logits for `features` (`[D*H_out]`), or copies the features without a head.
  @inline(__always)
  func writeOutput(
    from features: UnsafePointer<Float>, parameters p: UnsafePointer<Float>,
    into output: UnsafeMutablePointer<Float>
  ) {
    if let head {
      matrixVector(
        p + headWeight, rows: head.classCount, columns: directionCount * hiddenOutputSize, features,
        bias: p + headBias, into: output, accumulate: false)
    } else {
      output.update(from: features, count: directionCount * hiddenOutputSize)
    }
  }

  /// One cell update in place: `h` (`[H_out]`) and `c` (`[H]`, LSTM) become `h'` and `c'`.
  ///
  /// `scratch` holds at least ``scratchSize`` floats. Formulas and gate order are PyTorch's.
  @inline(__always)
  func updateCell(
    _ cell: CellLayout, parameters p: UnsafePointer<Float>, input x: UnsafePointer<Float>,
    h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let hidden = hiddenSize
    let hiddenOut = hiddenOutputSize
    let rows = kind.gateCount * hidden
    switch kind {
    case .gru:
      // inputGates = W_ih x + b_ih, [3H] r|z|n; hiddenGates = W_hh h + b_hh, [3H] r|z|n.
      let inputGates = scratch
      let hiddenGates = scratch + rows
      matrixVector(
        p + cell.weightIH, rows: rows, columns: cell.inputSize, x, bias: p + cell.biasIH,
        into: inputGates, accumulate: false)
      matrixVector(
        p + cell.weightHH, rows: rows, columns: hiddenOut, h, bias: p + cell.biasHH,
        into: hiddenGates, accumulate: false)
      for j in 0..<hidden {
        let r = sigmoid(inputGates[j] + hiddenGates[j])
        let z = sigmoid(inputGates[hidden + j] + hiddenGates[hidden + j])
        let n = hyperbolicTangent(inputGates[2 * hidden + j] + r * hiddenGates[2 * hidden + j])
        h[j] = (1 - z) * n + z * h[j]
      }
    case .lstm:
      // gates = (W_ih x + b_ih) + (W_hh h + b_hh), [4H] i|f|g|o.
      let gates = scratch
      matrixVector(
        p + cell.weightIH, rows: rows, columns: cell.inputSize, x, bias: p + cell.biasIH,
        into: gates, accumulate: false)
      matrixVector(
        p + cell.weightHH, rows: rows, columns: hiddenOut, h, bias: p + cell.biasHH,
        into: gates, accumulate: true)
      // Without projection h' is written directly; with it, o ⊙ tanh(c') goes to scratch [H] first.
      let projected = cell.weightHR >= 0
      let beforeProjection = projected ? scratch + rows : h
      for j in 0..<hidden {
        let i = sigmoid(gates[j])
        let f = sigmoid(gates[hidden + j])
        let g = hyperbolicTangent(gates[2 * hidden + j])
        let o = sigmoid(gates[3 * hidden + j])
        let cellValue = f * c[j] + i * g
        c[j] = cellValue
        beforeProjection[j] = o * hyperbolicTangent(cellValue)
      }
      if projected {
        // h' = W_hr (o ⊙ tanh(c')), [P]; PyTorch's projection has no bias.
        matrixVector(
          p + cell.weightHR, rows: hiddenOut, columns: hidden, beforeProjection, bias: nil,
          into: h, accumulate: false)
      }
    case .rnnTanh, .rnnRelu:
      // a = (W_ih x + b_ih) + (W_hh h + b_hh), [H].
      let preActivation = scratch
      matrixVector(
        p + cell.weightIH, rows: rows, columns: cell.inputSize, x, bias: p + cell.biasIH,
        into: preActivation, accumulate: false)
      matrixVector(
        p + cell.weightHH, rows: rows, columns: hiddenOut, h, bias: p + cell.biasHH,
        into: preActivation, accumulate: true)
      if kind == .rnnTanh {
        for j in 0..<hidden { h[j] = hyperbolicTangent(preActivation[j]) }
      } else {
        for j in 0..<hidden { h[j] = max(preActivation[j], 0) }
      }
    }
  }
}
