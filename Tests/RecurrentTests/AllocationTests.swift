import AllocationCounter
import Recurrent
import Testing

@Suite("The real-time step allocates nothing")
struct AllocationTests {
  @Test func theCounterSeesAllocations() {
    // Positive control: without it a broken counter would make every test below pass vacuously.
    allocation_counter_start()
    let array = [Int](repeating: 7, count: Int.random(in: 100...200))
    let count = allocation_counter_stop()
    #expect(array.count >= 100)
    #expect(count >= 1)
  }

  @Test(
    "10,000 steps, zero allocations",
    arguments: [
      "gru_3x33_in7_head5", "lstm_proj_2x20p7_in11_head3", "lstm_3x64_in40_head2",
      "rnn_relu_3x12_in4_nobias",
    ], WeightStorage.allCases)
  func stepDoesNotAllocate(name: String, weights: WeightStorage) throws {
    let model = try GoldenCase.load(name, weightStorage: weights).model
    var state = try model.makeStepState()
    let input = [Float](repeating: 0.25, count: model.inputSize)
    var output = [Float](repeating: 0, count: model.outputSize)
    let allocations = input.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        // One warm-up call of each function outside the measurement: the Swift runtime may
        // instantiate metadata on a first call in the process (documented on `step`).
        model.step(x, state: &state, output: y)
        model.applyHeadActivation(y)
        allocation_counter_start()
        for _ in 0..<10_000 {
          model.step(x, state: &state, output: y)
          model.applyHeadActivation(y)
        }
        state.reset()
        return allocation_counter_stop()
      }
    }
    #expect(allocations == 0)
    #expect(output.allSatisfy { $0.isFinite })
  }

  @Test func aSharedStateIsCopiedOnceAndTheCounterSeesIt() throws {
    // The documented caveat, and a control that the counter sees allocations inside `step`.
    let model = try GoldenCase.load("gru_1x16_in10").model
    var state = try model.makeStepState()
    let input = [Float](repeating: 0.25, count: model.inputSize)
    var output = [Float](repeating: 0, count: model.outputSize)
    let snapshot = state
    let allocations = input.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        allocation_counter_start()
        model.step(x, state: &state, output: y)
        return allocation_counter_stop()
      }
    }
    #expect(allocations >= 1)
    #expect(snapshot.h.allSatisfy { $0 == 0 } && state.h.contains { $0 != 0 })
  }
}
