import Recurrent
import Testing

@Suite("Batched steps equal one-by-one steps")
struct BatchTests {
  /// Unidirectional golden cases (bidirectional models do not step).
  static let names = GoldenCase.names().filter { name in
    (try? GoldenCase.load(name).model.isBidirectional) == false
  }

  @Test(
    "Every batch size 1…64 (ragged tails included) gives each stream exactly its solo output and state",
    arguments: names, RecurrentKernel.available)
  func batchEqualsSolo(name: String, kernel: RecurrentKernel) throws {
    for storage in [WeightStorage.float32, .float16] {
      let golden = try GoldenCase.load(name, kernel: kernel, weightStorage: storage)
      let model = golden.model
      let streams = 64
      var solo = try (0..<streams).map { stream in
        stream % 3 == 0 ? try golden.initialState() : model.makeState()
      }
      var batched = solo
      let batch = RecurrentBatch(capacity: streams)
      var frames = [Int](repeating: 0, count: streams)
      let inputSize = model.inputSize
      let outputSize = model.outputSize
      let all = golden.frames.values
      let frameCount = golden.frameCount
      var soloOut = [Float](repeating: 0, count: streams * outputSize)
      var batchOut = [Float](repeating: .nan, count: streams * outputSize)
      var checked = 0
      // Sizes 1…64, then a pass where every third stream sits out (entries not in slot order).
      let schedules: [[Int]] =
        (1...streams).map { Array(0..<$0) } + [(0..<streams).filter { $0 % 3 != 1 }.reversed()]
      for members in schedules {
        all.withUnsafeBufferPointer { frameBuffer in
          soloOut.withUnsafeMutableBufferPointer { soloBuffer in
            batchOut.withUnsafeMutableBufferPointer { batchBuffer in
              for (entry, stream) in members.enumerated() {
                let t = (stream * 7 + frames[stream]) % frameCount
                let input = frameBuffer.baseAddress! + t * inputSize
                model.step(
                  UnsafeBufferPointer(start: input, count: inputSize), state: &solo[stream],
                  output: UnsafeMutableBufferPointer(
                    rebasing: soloBuffer[(stream * outputSize)..<((stream + 1) * outputSize)]))
                batch.set(
                  entry, input: input, state: &batched[stream],
                  output: batchBuffer.baseAddress! + stream * outputSize)
                frames[stream] += 1
              }
              model.stepBatch(batch, count: members.count)
            }
          }
        }
        for stream in members {
          let range = (stream * outputSize)..<((stream + 1) * outputSize)
          #expect(Array(batchOut[range]) == Array(soloOut[range]), "\(name) \(storage) stream \(stream)")
          checked += 1
        }
      }
      for stream in 0..<streams {
        #expect(batched[stream].h == solo[stream].h, "\(name) \(storage) h of stream \(stream)")
        #expect(batched[stream].c == solo[stream].c, "\(name) \(storage) c of stream \(stream)")
      }
      #expect(checked == (1...streams).reduce(0, +) + (0..<streams).filter { $0 % 3 != 1 }.count)
      #expect(solo.contains { $0.h.contains { $0 != 0 } }, "the states moved")
    }
  }
}
