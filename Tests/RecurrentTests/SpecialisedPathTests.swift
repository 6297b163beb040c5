import Foundation
import Recurrent
import Testing

/// Random PyTorch-style weights (uniform ±1/√H, seeded) for a one-layer stack.
private func randomStateDict(kind: RecurrentKind, input: Int, hidden: Int, seed: UInt64) -> [String:
  FloatTensor]
{
  var state = seed
  let scale = 1 / Float(hidden).squareRoot()
  func values(_ count: Int) -> [Float] {
    (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
  }
  let gates = kind == .lstm ? 4 : 3
  return [
    "weight_ih_l0": FloatTensor(shape: [gates * hidden, input], values: values(gates * hidden * input)),
    "weight_hh_l0": FloatTensor(shape: [gates * hidden, hidden], values: values(gates * hidden * hidden)),
    "bias_ih_l0": FloatTensor(shape: [gates * hidden], values: values(gates * hidden)),
    "bias_hh_l0": FloatTensor(shape: [gates * hidden], values: values(gates * hidden)),
  ]
}

private func frames(count: Int, width: Int) -> [Float] {
  (0..<(count * width)).map { index in Float((index * 37) % 101) / 50 - 1 }
}

@Suite("Specialised step paths give the general path's results")
struct SpecialisedPathTests {
  /// A GRU with at most one vector of hidden units runs as one kernel call with its own weight
  /// layout (stepGRUOneVector). Checked against PyTorch's GRU formulas in float64, on every kernel
  /// (8-lane builds take the path from H ≤ 8, AVX-512 from H ≤ 16), for whole and partial vectors.
  @Test("One-vector GRU cells equal the float64 GRU formulas", arguments: RecurrentKernel.available)
  func oneVectorGRU(kernel: RecurrentKernel) throws {
    for hidden in [3, 6, 8, 13, 16] {
      let input = 7
      let dict = randomStateDict(kind: .gru, input: input, hidden: hidden, seed: UInt64(hidden))
      let model = try RecurrentModel(kind: .gru, stateDict: dict, kernel: kernel)
      var state = try model.makeStepState()
      let steps = 40
      let x = frames(count: steps, width: input)
      var output = [Float](repeating: 0, count: hidden)
      var h = [Double](repeating: 0, count: hidden)
      let wih = dict["weight_ih_l0"]!.values
      let whh = dict["weight_hh_l0"]!.values
      let bih = dict["bias_ih_l0"]!.values
      let bhh = dict["bias_hh_l0"]!.values
      var worst = 0.0
      for t in 0..<steps {
        let frame = Array(x[(t * input)..<((t + 1) * input)])
        frame.withUnsafeBufferPointer { f in
          output.withUnsafeMutableBufferPointer { model.step(f, state: &state, output: $0) }
        }
        // PyTorch: r, z, n gates; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h = (1 − z) n + z h.
        func gate(_ g: Int, _ row: Int) -> (Double, Double) {
          var ix = Double(bih[g * hidden + row])
          var hh = Double(bhh[g * hidden + row])
          for k in 0..<input { ix += Double(wih[(g * hidden + row) * input + k]) * Double(frame[k]) }
          for k in 0..<hidden { hh += Double(whh[(g * hidden + row) * hidden + k]) * h[k] }
          return (ix, hh)
        }
        var next = h
        for row in 0..<hidden {
          let (rx, rh) = gate(0, row)
          let (zx, zh) = gate(1, row)
          let (nx, nh) = gate(2, row)
          let r = 1 / (1 + exp(-(rx + rh)))
          let z = 1 / (1 + exp(-(zx + zh)))
          let n = tanh(nx + r * nh)
          next[row] = (1 - z) * n + z * h[row]
        }
        h = next
        for row in 0..<hidden { worst = max(worst, abs(Double(output[row]) - h[row])) }
      }
      #expect(worst < 1e-5, "hidden \(hidden) on \(kernel): \(worst)")
      #expect(state.h.map(Double.init) == output.map(Double.init), "the output is the new h")
    }
  }

  /// Large models read their gate panels forward and backward on alternate steps; the sums are
  /// the same, so step-by-step output equals the sequence run (always forward) bit for bit.
  @Test("Alternating the panel order keeps every step's output", arguments: RecurrentKernel.available)
  func alternatingTraversal(kernel: RecurrentKernel) throws {
    for kind in [RecurrentKind.gru, .lstm] {
      let dict = randomStateDict(kind: kind, input: 40, hidden: 256, seed: 5)
      let model = try RecurrentModel(kind: kind, stateDict: dict, kernel: kernel)
      #expect(model.alternatesTraversal, "\(kind): 0.9–1.2 MB of weights")
      let steps = 5
      let x = frames(count: steps, width: 40)
      var stepState = try model.makeStepState()
      let stepped = model.stepEach(frames: x, frameCount: steps, state: &stepState)
      var runState = model.makeState()
      let run = model.run(sequence: x, frameCount: steps, state: &runState)
      #expect(stepped == run, "\(kind) on \(kernel)")
      #expect(stepState.h == runState.h && stepState.c == runState.c)
      #expect(stepped.contains { $0 != 0 })
    }
    let small = try RecurrentModel(
      kind: .gru, stateDict: randomStateDict(kind: .gru, input: 40, hidden: 64, seed: 1), kernel: kernel)
    #expect(!small.alternatesTraversal, "small weights stay in cache either way")
  }
}
