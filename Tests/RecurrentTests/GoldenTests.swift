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
    let cases = try names.map(GoldenCase.load)
    #expect(cases.contains { $0.model.kind == .gru && $0.model.head != nil })
    #expect(cases.contains { $0.model.kind == .lstm && $0.model.projectionSize > 0 })
    #expect(cases.contains { $0.model.kind == .rnnTanh } && cases.contains { $0.model.kind == .rnnRelu })
    #expect(cases.contains { !$0.model.hasBias })
    #expect(cases.contains { $0.model.isBidirectional })
    #expect(cases.contains { $0.model.layerCount == 3 })
    #expect(cases.contains { $0.frameCount >= 10_000 })
  }

  @Test("Outputs and final state equal PyTorch's", arguments: GoldenCase.names())
  func matchesPyTorch(name: String) throws {
    let golden = try GoldenCase.load(name)
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

  @Test("The sequence API equals stepping frame by frame", arguments: GoldenCase.names())
  func sequenceEqualsSteps(name: String) throws {
    let golden = try GoldenCase.load(name)
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
