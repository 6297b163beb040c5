import Recurrent

#if canImport(Glibc)
  import Glibc
#endif

/// How a GRU's update gate `z` mixes the old state with the candidate `ñ`.
public enum GRUUpdate: String, Sendable, Equatable {
  /// `h' = (1 − z) ⊙ ñ + z ⊙ h`: `z` keeps the old state (PyTorch, Keras, ONNX).
  case zKeepsState = "z_keeps_state"
  /// `h' = z ⊙ ñ + (1 − z) ⊙ h`: `z` takes the candidate (Cho et al. 2014 as often written).
  case zTakesCandidate = "z_takes_candidate"
}

/// The textbook GRU, reset applied *before* the recurrent matrix:
///
///     r = σ(W_r x + b_r + U_r h + c_r)
///     z = σ(W_z x + b_z + U_z h + c_z)
///     ñ = tanh(W_n x + b_n + U_n (r ⊙ h) + c_n)
///     h' = (1 − z) ⊙ ñ + z ⊙ h        (or z ⊙ ñ + (1 − z) ⊙ h, see ``GRUUpdate``)
///
/// as in Cho et al. 2014, Keras `GRU(reset_after=False)` and ONNX `linear_before_reset=0`
/// (PyTorch's `nn.GRU` applies the reset after `U_n h`: that is the `gru` layer). Gate blocks are
/// ordered r | z | n in every tensor (a Keras converter reorders its z | r | h). Weights are packed
/// for the SIMD kernels; the state is `h` `[H]`.
public struct TextbookGRU: Sendable {
  /// Input features.
  public let inputs: Int
  /// Hidden size `H`.
  public let hidden: Int
  /// The update convention.
  public let update: GRUUpdate
  /// `[3H, in]` with the input biases `b`.
  let input: PackedMatrix
  /// `[2H, H]` (r, z rows) with the recurrent biases `c_r`, `c_z`.
  let gates: PackedMatrix
  /// `[H, H]` with `c_n`.
  let candidate: PackedMatrix

  /// From `weightIH` `[3H, inputs]`, `weightHH` `[3H, H]` (row blocks r | z | n) and optional
  /// biases `[3H]` for the input and recurrent sides.
  public init(
    weightIH: [Float], weightHH: [Float], biasIH: [Float]?, biasHH: [Float]?, inputs: Int, hidden: Int,
    update: GRUUpdate, kernel: RecurrentKernel = .preferred
  ) throws(LayerChainError) {
    guard (1...4096).contains(inputs), (1...4096).contains(hidden), weightIH.count == 3 * hidden * inputs,
      weightHH.count == 3 * hidden * hidden, biasIH == nil || biasIH!.count == 3 * hidden,
      biasHH == nil || biasHH!.count == 3 * hidden
    else {
      throw LayerChainError(
        description:
          "textbook GRU: weights [3H, in] and [3H, H], biases [3H] (H \(hidden), in \(inputs); got \(weightIH.count), \(weightHH.count))"
      )
    }
    guard (weightIH + weightHH + (biasIH ?? []) + (biasHH ?? [])).allSatisfy(\.isFinite) else {
      throw LayerChainError(description: "textbook GRU: weights must be finite")
    }
    self.inputs = inputs
    self.hidden = hidden
    self.update = update
    input = PackedMatrix(
      rows: 3 * hidden, columns: inputs, kernel: kernel, weight: { weightIH[$0 * inputs + $1] },
      bias: { biasIH?[$0] ?? 0 })
    gates = PackedMatrix(
      rows: 2 * hidden, columns: hidden, kernel: kernel, weight: { weightHH[$0 * hidden + $1] },
      bias: { biasHH?[$0] ?? 0 })
    candidate = PackedMatrix(
      rows: hidden, columns: hidden, kernel: kernel, weight: { weightHH[(2 * hidden + $0) * hidden + $1] },
      bias: { biasHH?[2 * hidden + $0] ?? 0 })
  }

  /// State and scratch floats: `h`, then room for `W x` (3H), `U h` (2H) and `r ⊙ h` / `U_n (r ⊙ h)`.
  var stateFloats: Int { padded(hidden) + padded(3 * hidden) + padded(2 * hidden) + 2 * padded(hidden) }

  private func padded(_ count: Int) -> Int { (count + 15) / 16 * 16 }

  /// One step: `x` `[inputs]` → `y` `[hidden]` (the new `h`), `state` holding `h` and scratch.
  @inline(__always)
  func step(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>
  ) {
    let h = state
    let wx = h + padded(hidden)
    let uh = wx + padded(3 * hidden)
    let rh = uh + padded(2 * hidden)
    let un = rh + padded(hidden)
    input.multiply(x, into: wx)
    gates.multiply(UnsafePointer(h), into: uh)
    for unit in 0..<hidden {
      rh[unit] = logistic(wx[unit] + uh[unit]) * h[unit]
    }
    candidate.multiply(UnsafePointer(rh), into: un)
    for unit in 0..<hidden {
      let z = logistic(wx[hidden + unit] + uh[hidden + unit])
      let n = tanhf(wx[2 * hidden + unit] + un[unit])
      let next = update == .zKeepsState ? (1 - z) * n + z * h[unit] : z * n + (1 - z) * h[unit]
      h[unit] = next
      y[unit] = next
    }
  }
}
