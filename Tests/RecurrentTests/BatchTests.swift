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

@Suite("Batched matrix products equal one-vector products")
struct PackedMatrixBatchTests {
  @Test(
    "PackedMatrix.multiplyBatch equals multiply bit for bit: every panel kind, 1…9 vectors",
    arguments: RecurrentKernel.available)
  func multiplyBatchEqualsMultiply(kernel: RecurrentKernel) {
    var seed: UInt64 = 99
    func next() -> Float {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(Int64(bitPattern: seed >> 11) % 2001 - 1000) / 997
    }
    // Row counts that make four-vector, one-vector and four-row panels; odd column counts.
    for (rows, columns) in [(1, 3), (3, 17), (4, 9), (16, 31), (20, 258), (64, 129), (70, 7), (258, 256)] {
      let weights = (0..<(rows * columns)).map { _ in next() }
      let biases = (0..<rows).map { _ in next() }
      let matrix = PackedMatrix(
        rows: rows, columns: columns, kernel: kernel, weight: { weights[$0 * columns + $1] },
        bias: { biases[$0] })
      for count in 1...9 {
        let inputs = (0..<(count * columns)).map { _ in next() }
        var single = [Float](repeating: 0, count: count * matrix.paddedRows)
        var batched = [Float](repeating: .nan, count: count * matrix.paddedRows)
        inputs.withUnsafeBufferPointer { x in
          single.withUnsafeMutableBufferPointer { y in
            for b in 0..<count {
              matrix.multiply(x.baseAddress! + b * columns, into: y.baseAddress! + b * matrix.paddedRows)
            }
          }
          batched.withUnsafeMutableBufferPointer { y in
            let xs = (0..<count).map { x.baseAddress! + $0 * columns }
            let ys = (0..<count).map { y.baseAddress! + $0 * matrix.paddedRows }
            xs.withUnsafeBufferPointer { xp in
              ys.withUnsafeBufferPointer { yp in
                matrix.multiplyBatch(xp.baseAddress!, into: yp.baseAddress!, count: count)
              }
            }
          }
        }
        for b in 0..<count {
          let range = (b * matrix.paddedRows)..<(b * matrix.paddedRows + rows)
          #expect(
            Array(batched[range]) == Array(single[range]), "\(rows)x\(columns), \(count) vectors, vector \(b)"
          )
        }
      }
    }
  }
}
