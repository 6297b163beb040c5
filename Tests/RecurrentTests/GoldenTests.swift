import Foundation
import Recurrent
import Testing

/// The bar against PyTorch float32 (issue 3): max abs error on outputs, logits, h_n and c_n.
let pyTorchTolerance: Float = 1e-5

@Suite("Golden files from PyTorch")
struct GoldenTests {
  @Test func theGoldenSetCoversTheIssue() throws {
    let names = GoldenCase.names()
    // The generator writes 17 cases; losing some would quietly weaken every test below.
    #expect(names.count >= 17, "golden cases found: \(names)")
    let cases = try names.map { try GoldenCase.load($0) }
    #expect(cases.contains { $0.model.kind == .gru && $0.model.head != nil })
    #expect(cases.contains { $0.model.kind == .lstm && $0.model.projectionSize > 0 })
    #expect(cases.contains { $0.model.kind == .rnnTanh } && cases.contains { $0.model.kind == .rnnRelu })
    #expect(cases.contains { !$0.model.hasBias })
    #expect(cases.contains { $0.model.isBidirectional })
    #expect(cases.contains { $0.model.layerCount == 3 })
    #expect(cases.contains { $0.frameCount >= 10_000 })
  }

  @Test(
    "Outputs and final state equal PyTorch's, on every kernel this CPU runs",
    arguments: GoldenCase.names(), RecurrentKernel.available)
  func matchesPyTorch(name: String, kernel: RecurrentKernel) throws {
    let golden = try GoldenCase.load(name, kernel: kernel)
    #expect(golden.model.kernel == kernel)
    var state = try golden.initialState()
    let outputs: [Float]
    if golden.model.isBidirectional {
      outputs = golden.model.run(sequence: golden.frames.values, frameCount: golden.frameCount, state: &state)
    } else {
      outputs = stepAll(golden.model, frames: golden.frames.values, state: &state)
    }
    #expect(golden.out.shape == [golden.frameCount, golden.model.outputSize])
    #expect(maxAbsDifference(outputs, golden.out.values) <= pyTorchTolerance)
    #expect(maxAbsDifference(state.h, golden.hn.values) <= pyTorchTolerance)
    if let cn = golden.cn {
      #expect(maxAbsDifference(state.c, cn.values) <= pyTorchTolerance)
    } else {
      #expect(state.c.isEmpty)
    }
  }

  @Test(
    "The sequence API equals stepping frame by frame", arguments: GoldenCase.names(),
    RecurrentKernel.available)
  func sequenceEqualsSteps(name: String, kernel: RecurrentKernel) throws {
    let golden = try GoldenCase.load(name, kernel: kernel)
    guard !golden.model.isBidirectional else { return }
    var stepped = try golden.initialState()
    var sequenced = try golden.initialState()
    let stepOutputs = stepAll(golden.model, frames: golden.frames.values, state: &stepped)
    let sequenceOutputs = golden.model.run(
      sequence: golden.frames.values, frameCount: golden.frameCount, state: &sequenced)
    #expect(maxAbsDifference(stepOutputs, sequenceOutputs) <= 1e-6)
    #expect(maxAbsDifference(stepped.h, sequenced.h) <= 1e-6)
    #expect(maxAbsDifference(stepped.c, sequenced.c) <= 1e-6)
  }
}

@Suite("Kernels")
struct KernelTests {
  @Test func thisMachineRunsTheSIMDKernels() {
    // The portable path always exists; on x86-64 CI machines (AVX2 at least) the SIMD paths must be
    // found, or every "fast" number would silently be the portable one.
    #expect(RecurrentKernel.available.first == .portable)
    #if arch(x86_64)
      #expect(RecurrentKernel.available.contains(.avx2))
    #endif
    #expect(RecurrentKernel.available.contains(RecurrentKernel.preferred))
  }

  @Test("Vector sigmoid and tanh stay within 3e-7 of the C library", arguments: RecurrentKernel.available)
  func activationAccuracy(kernel: RecurrentKernel) {
    // Dense grid over [-20, 20] plus the extremes, where clamping and saturation matter.
    var inputs = (0...400_000).map { Float(-20 + Double($0) * 1e-4) }
    inputs += [-100, -88.5, -87.5, 87.5, 88.5, 100, 0, -0.0, 1e-8, -1e-8]
    for tangent in [false, true] {
      var values = inputs
      values.withUnsafeMutableBufferPointer { kernel.applyVectorActivation($0, tangent: tangent) }
      var worst: Float = 0
      for (input, value) in zip(inputs, values) {
        let exact = tangent ? Float(tanh(Double(input))) : Float(1 / (1 + exp(-Double(input))))
        worst = max(worst, abs(value - exact))
      }
      #expect(worst <= 3e-7, "\(kernel) \(tangent ? "tanh" : "sigmoid"): max error \(worst)")
    }
  }
}
