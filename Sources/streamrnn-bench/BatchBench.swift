import AllocationCounter
import Recurrent

/// `streamrnn bench --batch N`: the cost of one step per stream when N streams of one model step
/// together (``RecurrentModel/stepBatch(_:count:)``), beside the same N streams stepped one by one
/// in the same sitting. Both loops are timed as whole blocks of back-to-back rounds (the monotonic
/// clock read once per block); the best of 7 blocks is reported, per stream-step, with the
/// allocations of the timed blocks.
struct BatchBench {
  let model: RecurrentModel
  let streams: Int
  let rounds: Int

  struct Result {
    var oneByOne: Double
    var batched: Double
    var allocations: Int
  }

  func run() -> Result {
    var generator = SplitMix64(seed: 11)
    let inputSize = model.inputSize
    let outputSize = model.outputSize
    let frames = (0..<(streams * inputSize)).map { _ in generator.nextFloat(in: -1...1) }
    var output = [Float](repeating: 0, count: streams * outputSize)
    var soloStates = (0..<streams).map { _ in model.makeState() }
    var batchStates = soloStates.map { _ in model.makeState() }
    let batch = RecurrentBatch(capacity: streams)
    var best = Result(oneByOne: .infinity, batched: .infinity, allocations: 0)
    frames.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        func soloRound() {
          for stream in 0..<streams {
            model.step(
              UnsafeBufferPointer(rebasing: x[(stream * inputSize)..<((stream + 1) * inputSize)]),
              state: &soloStates[stream],
              output: UnsafeMutableBufferPointer(
                rebasing: y[(stream * outputSize)..<((stream + 1) * outputSize)]))
          }
        }
        func batchRound() {
          for stream in 0..<streams {
            batch.set(
              stream, input: x.baseAddress! + stream * inputSize, state: &batchStates[stream],
              output: y.baseAddress! + stream * outputSize)
          }
          model.stepBatch(batch, count: streams)
        }
        for _ in 0..<max(1, rounds / 10) {
          soloRound()
          batchRound()
        }
        allocation_counter_start()
        // Alternating blocks, so both see the same machine.
        for _ in 0..<7 {
          var begin = Timer.now()
          for _ in 0..<rounds { soloRound() }
          best.oneByOne = min(best.oneByOne, Double(Timer.now() &- begin) / Double(rounds * streams))
          begin = Timer.now()
          for _ in 0..<rounds { batchRound() }
          best.batched = min(best.batched, Double(Timer.now() &- begin) / Double(rounds * streams))
        }
        best.allocations = Int(allocation_counter_stop())
      }
    }
    return best
  }
}
