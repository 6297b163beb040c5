import AllocationCounter
import Foundation
import Layers
import Recurrent
import Testing

/// Deterministic values in [-1, 1).
func values(_ count: Int, seed: Int) -> [Float] {
  var state = UInt64(bitPattern: Int64(seed)) &+ 0x9E37_79B9_7F4A_7C15
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
  }
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Runs `chain` over `frames` ([T, in]) one step at a time; the outputs of the frames that gave one.
func stepped(_ chain: LayerChain, _ frames: [Float], state: LayerChainState? = nil) -> [Float] {
  chain.run(sequence: frames, frameCount: frames.count / chain.inputSize, state: state ?? chain.makeState())
}

@Suite("Layer chains stream exactly")
struct LayerChainTests {
  @Test func affineLinearAndActivationsMatchTheirDefinitions() throws {
    let inputs = 5
    let outputs = 7
    let weight = values(outputs * inputs, seed: 1)
    let bias = values(outputs, seed: 2)
    let scale = values(inputs, seed: 3).map { $0 + 2 }
    let shift = values(inputs, seed: 4)
    let activations: [(Activation, (Double) -> Double)] = [
      (.relu, { max($0, 0) }), (.leakyReLU(slope: 0.1), { $0 >= 0 ? $0 : 0.1 * $0 }),
      (.elu(alpha: 1.5), { $0 > 0 ? $0 : 1.5 * (exp($0) - 1) }),
      (.gelu, { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }),
      (.geluTanh, { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }),
      (.silu, { $0 / (1 + exp(-$0)) }), (.tanh, { tanh($0) }), (.sigmoid, { 1 / (1 + exp(-$0)) }),
      (.hardtanh(lower: -0.5, upper: 0.25), { min(max($0, -0.5), 0.25) }),
      (.softplus(beta: 2, threshold: 1), { 2 * $0 > 1 ? $0 : log(1 + exp(2 * $0)) / 2 }),
      (.prelu(weights: [0.3]), { $0 >= 0 ? $0 : 0.3 * $0 }),
    ]
    for (activation, reference) in activations {
      let chain = try LayerChain(layers: [
        .affine(scale: scale, shift: shift),
        .linear(try Linear(weight: weight, bias: bias, inputs: inputs, outputs: outputs)),
        .activation(activation, size: outputs),
      ])
      let frames = values(inputs * 50, seed: 5).map { $0 * 3 }
      var expected: [Float] = []
      for t in 0..<50 {
        let x = (0..<inputs).map { Double(frames[t * inputs + $0]) * Double(scale[$0]) + Double(shift[$0]) }
        for o in 0..<outputs {
          let y = (0..<inputs).reduce(Double(bias[o])) { $0 + Double(weight[o * inputs + $1]) * x[$1] }
          expected.append(Float(reference(y)))
        }
      }
      let difference = maxDifference(stepped(chain, frames), expected)
      #expect(difference <= 2e-6, "\(activation): \(difference)")
    }
  }

  @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 3, 1), (1, 1, 1), (3, 2, 4)])
  func causalConvolutionEqualsItsDefinition(kernel: Int, dilation: Int, groupsAreChannels: Int) throws {
    let channels = 4
    let depthwise = groupsAreChannels == 4
    let outputs = depthwise ? channels : 6
    let perGroup = depthwise ? 1 : channels
    let weight = values(outputs * perGroup * kernel, seed: kernel * 10 + dilation)
    let bias = values(outputs, seed: 7)
    let chain = try LayerChain(layers: [
      .conv1d(
        try CausalConv1d(
          weight: weight, bias: bias, inputs: channels, outputs: outputs, kernel: kernel, dilation: dilation,
          groups: depthwise ? channels : 1))
    ])
    let frameCount = 40
    let frames = values(channels * frameCount, seed: 11)
    func x(_ t: Int, _ c: Int) -> Double { t < 0 ? 0 : Double(frames[t * channels + c]) }
    var expected: [Float] = []
    for t in 0..<frameCount {
      for o in 0..<outputs {
        var sum = Double(bias[o])
        for j in 0..<kernel {
          let source = t - (kernel - 1 - j) * dilation
          if depthwise {
            sum += Double(weight[o * kernel + j]) * x(source, o)
          } else {
            for c in 0..<channels { sum += Double(weight[(o * channels + c) * kernel + j]) * x(source, c) }
          }
        }
        expected.append(Float(sum))
      }
    }
    #expect(maxDifference(stepped(chain, frames), expected) <= 1e-6)
  }

  @Test func layerNormStackingAndSubsampling() throws {
    let size = 6
    let gamma = values(size, seed: 21)
    let beta = values(size, seed: 22)
    let chain = try LayerChain(layers: [
      .layerNorm(try LayerNorm(size: size, gamma: gamma, beta: beta, epsilon: 1e-5)),
      .frameStack(frames: 3, size: size),
      .subsample(every: 2, size: 3 * size),
    ])
    let frameCount = 21
    let frames = values(size * frameCount, seed: 23).map { $0 * 4 + 1 }
    func normalised(_ t: Int) -> [Double] {
      guard t >= 0 else { return [Double](repeating: 0, count: size) }
      let x = (0..<size).map { Double(frames[t * size + $0]) }
      let mean = x.reduce(0, +) / Double(size)
      let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(size)
      return (0..<size).map {
        (x[$0] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[$0]) + Double(beta[$0])
      }
    }
    var expected: [Float] = []
    for t in stride(from: 0, to: frameCount, by: 2) {
      // Zeros before the stream are stacked as zeros (not normalised zeros).
      for back in [2, 1, 0] {
        expected += t - back < 0 ? [Float](repeating: 0, count: size) : normalised(t - back).map(Float.init)
      }
    }
    let actual = stepped(chain, frames)
    #expect(actual.count == 11 * 3 * size)
    #expect(maxDifference(actual, expected) <= 1e-6)
  }

  @Test func recurrentStacksOfDifferentKindsChainAndResetTogether() throws {
    func model(_ kind: RecurrentKind, inputs: Int, hidden: Int, seed: Int) throws -> RecurrentModel {
      let gates = kind == .lstm ? 4 : kind == .gru ? 3 : 1
      return try RecurrentModel(
        kind: kind,
        stateDict: [
          "weight_ih_l0": FloatTensor(
            shape: [gates * hidden, inputs], values: values(gates * hidden * inputs, seed: seed)),
          "weight_hh_l0": FloatTensor(
            shape: [gates * hidden, hidden], values: values(gates * hidden * hidden, seed: seed + 1)),
          "bias_ih_l0": FloatTensor(shape: [gates * hidden], values: values(gates * hidden, seed: seed + 2)),
          "bias_hh_l0": FloatTensor(shape: [gates * hidden], values: values(gates * hidden, seed: seed + 3)),
        ])
    }
    let lstm = try model(.lstm, inputs: 5, hidden: 8, seed: 30)
    let gru = try model(.gru, inputs: 8, hidden: 3, seed: 40)
    let chain = try LayerChain(layers: [.recurrent(lstm), .recurrent(gru)])
    let frames = values(5 * 200, seed: 50)
    // The reference: the two models stepped alone, the first's outputs fed to the second.
    var first = try lstm.makeStepState()
    let middle = lstm.stepEach(frames: frames, frameCount: 200, state: &first)
    var second = try gru.makeStepState()
    let expected = gru.stepEach(frames: middle, frameCount: 200, state: &second)
    let state = chain.makeState()
    #expect(stepped(chain, frames, state: state) == expected, "bit for bit: the same cells in the same order")
    state.reset()
    #expect(stepped(chain, frames, state: state) == expected, "reset returns to the start of a stream")
  }

  @Test func chainsThatDoNotFitAreRefusedNamingTheLayer() throws {
    let linear = try Linear(weight: values(12, seed: 1), bias: nil, inputs: 4, outputs: 3)
    #expect(throws: LayerChainError.self) { try LayerChain(layers: []) }
    do {
      _ = try LayerChain(layers: [.linear(linear), .activation(.relu, size: 4)])
      Issue.record("a chain that does not fit was built")
    } catch {
      #expect(error.description == "layer 1 (activation) takes 4 features but layer 0 (linear) gives 3")
    }
    #expect(throws: LayerChainError.self) {
      try LayerChain(layers: [.linear(linear), .activation(.prelu(weights: [1, 2]), size: 3)])
    }
    #expect(throws: LayerChainError.self) { try Linear(weight: [1, 2], bias: nil, inputs: 4, outputs: 3) }
    #expect(throws: LayerChainError.self) {
      try CausalConv1d(weight: [1], bias: nil, inputs: 2, outputs: 3, kernel: 1, groups: 2)
    }
  }

  @Test func aStepAllocatesNothingWithEveryLayerKind() throws {
    let lstm = try RecurrentModel(
      kind: .lstm,
      stateDict: [
        "weight_ih_l0": FloatTensor(shape: [16, 6], values: values(96, seed: 1)),
        "weight_hh_l0": FloatTensor(shape: [16, 4], values: values(64, seed: 2)),
      ])
    let chain = try LayerChain(
      layers: [
        .affine(scale: [Float](repeating: 2, count: 4), shift: [Float](repeating: -1, count: 4)),
        .conv1d(
          try CausalConv1d(
            weight: values(6 * 4 * 3, seed: 3), bias: nil, inputs: 4, outputs: 6, kernel: 3, dilation: 2)),
        .conv1d(
          try CausalConv1d(
            weight: values(6 * 2, seed: 4), bias: nil, inputs: 6, outputs: 6, kernel: 2, groups: 6)),
        .activation(.gelu, size: 6), .layerNorm(try LayerNorm(size: 6, gamma: nil, beta: nil)),
        .recurrent(lstm),
        .conv1d(
          try CausalConv1d(
            weight: values(4 * 4 * 3, seed: 8), bias: nil, inputs: 4, outputs: 4, kernel: 3, centred: true)),
        .textbookGRU(
          try TextbookGRU(
            weightIH: values(12 * 4, seed: 9), weightHH: values(12 * 4, seed: 10), biasIH: nil, biasHH: nil,
            inputs: 4,
            hidden: 4, update: .zTakesCandidate)),
        .frameStack(frames: 2, size: 4), .subsample(every: 2, size: 8),
        .linear(try Linear(weight: values(24, seed: 5), bias: values(3, seed: 6), inputs: 8, outputs: 3)),
        .activation(.prelu(weights: [0.1, 0.2, 0.3]), size: 3),
      ], headActivation: .softmax)
    let state = chain.makeState()
    let frame = values(4, seed: 7)
    var output = [Float](repeating: 0, count: 3)
    let allocations = frame.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        for _ in 0..<4 {
          if chain.step(x, state: state, output: y) { chain.applyHeadActivation(y) }
        }
        allocation_counter_start()
        for _ in 0..<2000 {
          if chain.step(x, state: state, output: y) { chain.applyHeadActivation(y) }
        }
        return allocation_counter_stop()
      }
    }
    #expect(allocations == 0)
    #expect(abs(output.reduce(0, +) - 1) < 1e-5)
    // The batched step, eight streams at a time, appended and cleared each round.
    // In a buffer: reading an Array allocates in debug builds.
    let states = UnsafeMutableBufferPointer<LayerChainState>.allocate(capacity: 8)
    _ = states.initialize(from: (0..<8).map { _ in chain.makeState() })
    defer { states.deinitialize().deallocate() }
    let batch = LayerChainBatch(chain: chain, capacity: 8)
    var producedCount = 0
    let batchAllocations = frame.withUnsafeBufferPointer { x in
      func round() {
        for index in 0..<states.count { batch.append(states[index], input: x) }
        chain.stepBatch(batch)
        for entry in 0..<batch.count where batch.producedOutput(entry) {
          chain.applyHeadActivation(batch.output(entry))
          producedCount += 1
        }
        batch.removeAll()
      }
      for _ in 0..<4 { round() }
      allocation_counter_start()
      for _ in 0..<500 { round() }
      return allocation_counter_stop()
    }
    #expect(batchAllocations == 0)
    #expect(producedCount > 1000)
  }
}

@Suite("The textbook GRU")
struct TextbookGRUTests {
  @Test(arguments: [GRUUpdate.zKeepsState, .zTakesCandidate])
  func equalsItsDefinition(update: GRUUpdate) throws {
    let (inputs, hidden, frameCount) = (5, 7, 60)
    let wih = values(3 * hidden * inputs, seed: 61)
    let whh = values(3 * hidden * hidden, seed: 62)
    let bih = values(3 * hidden, seed: 63)
    let bhh = values(3 * hidden, seed: 64)
    let chain = try LayerChain(layers: [
      .textbookGRU(
        try TextbookGRU(
          weightIH: wih, weightHH: whh, biasIH: bih, biasHH: bhh, inputs: inputs, hidden: hidden,
          update: update))
    ])
    let frames = values(inputs * frameCount, seed: 65)
    func sigma(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
    var h = [Double](repeating: 0, count: hidden)
    var expected: [Float] = []
    for t in 0..<frameCount {
      let x = (0..<inputs).map { Double(frames[t * inputs + $0]) }
      func wx(_ row: Int) -> Double {
        (0..<inputs).reduce(Double(bih[row])) { $0 + Double(wih[row * inputs + $1]) * x[$1] }
      }
      func uh(_ row: Int, _ v: [Double]) -> Double {
        (0..<hidden).reduce(Double(bhh[row])) { $0 + Double(whh[row * hidden + $1]) * v[$1] }
      }
      let r = (0..<hidden).map { sigma(wx($0) + uh($0, h)) }
      let z = (0..<hidden).map { sigma(wx(hidden + $0) + uh(hidden + $0, h)) }
      let rh = (0..<hidden).map { r[$0] * h[$0] }
      let n = (0..<hidden).map { tanh(wx(2 * hidden + $0) + uh(2 * hidden + $0, rh)) }
      let keep = update == .zKeepsState
      var next = h
      for unit in 0..<hidden {
        let gate: Double = keep ? z[unit] : 1 - z[unit]
        next[unit] = (1 - gate) * n[unit] + gate * h[unit]
      }
      h = next
      expected += h.map(Float.init)
    }
    #expect(maxDifference(stepped(chain, frames), expected) <= 2e-6)
  }
}
