import Foundation
import Recurrent
import Testing

@Suite("State: carried, settable, reset")
struct StateTests {
  let golden: GoldenCase

  init() throws { golden = try GoldenCase.load("lstm_proj_2x20p7_in11_head3") }

  @Test func stateCarriesAcrossCalls() throws {
    // Two calls over halves of the frames continue exactly where one call over all of them goes.
    let frames = golden.frames.values
    let half = (golden.frameCount / 2) * golden.model.inputSize
    var whole = try golden.initialState()
    let wholeOutputs = stepAll(golden.model, frames: frames, state: &whole)
    var split = try golden.initialState()
    let first = stepAll(golden.model, frames: Array(frames[..<half]), state: &split)
    let second = stepAll(golden.model, frames: Array(frames[half...]), state: &split)
    #expect(first + second == wholeOutputs)
    #expect(split.h == whole.h && split.c == whole.c)
  }

  @Test func resetBehavesLikeAFreshState() throws {
    var used = try golden.initialState()
    _ = stepAll(golden.model, frames: golden.frames.values, state: &used)
    #expect(used.h.contains { $0 != 0 })
    used.reset()
    #expect(used.h.allSatisfy { $0 == 0 } && used.c.allSatisfy { $0 == 0 })
    var fresh = golden.model.makeState()
    #expect(
      stepAll(golden.model, frames: golden.frames.values, state: &used)
        == stepAll(golden.model, frames: golden.frames.values, state: &fresh))
  }

  @Test func settingStateChecksShapes() throws {
    var state = golden.model.makeState()
    #expect(throws: RecurrentStateError.self) { try state.setH([1, 2, 3]) }
    #expect(throws: RecurrentStateError.self) { try state.setC([Float](repeating: 0, count: 7)) }
    try state.setH(golden.h0.values)
    #expect(state.h == golden.h0.values)
    var gru = try GoldenCase.load("gru_1x16_in10").model.makeState()
    #expect(throws: RecurrentStateError.self) { try gru.setC([Float](repeating: 0, count: 16)) }
  }

  @Test func bidirectionalModelsRefuseTheStepAPI() throws {
    let model = try GoldenCase.load("gru_bi_2x15_in8_head4").model
    #expect(throws: RecurrentModelError.self) { try model.makeStepState() }
    do {
      _ = try model.makeStepState()
    } catch {
      #expect(error.description.contains("bidirectional"))
    }
  }

  @Test func headActivations() throws {
    let model = golden.model  // softmax head with 3 labels
    #expect(model.head?.activation == .softmax)
    #expect(model.head?.labels == ["class0", "class1", "class2"])
    var values: [Float] = [1, 2, 3]
    values.withUnsafeMutableBufferPointer { model.applyHeadActivation($0) }
    let e: [Float] = [1, 2, 3].map { Float(exp(Double($0))) }
    let expected = e.map { $0 / e.reduce(0, +) }
    #expect(maxAbsDifference(values, expected) <= 1e-6)
    // Large logits must not overflow to NaN.
    var large: [Float] = [1000, 1001, 0]
    large.withUnsafeMutableBufferPointer { model.applyHeadActivation($0) }
    #expect(large.allSatisfy { $0.isFinite } && abs(large.reduce(0, +) - 1) <= 1e-6)
  }
}
