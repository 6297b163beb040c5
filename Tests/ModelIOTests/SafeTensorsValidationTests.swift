import Foundation
import ModelIO
import Recurrent
import Testing

/// A small valid GRU(3 → 4), 1 layer, with a 2-class head, as named tensors.
func smallGRU(prefix: String = "rnn.") -> [(name: String, tensor: FloatTensor)] {
  func ramp(_ shape: [Int], _ scale: Float) -> FloatTensor {
    let count = shape.reduce(1, *)
    return FloatTensor(shape: shape, values: (0..<count).map { Float($0 % 7 - 3) * scale })
  }
  return [
    (prefix + "weight_ih_l0", ramp([12, 3], 0.1)), (prefix + "weight_hh_l0", ramp([12, 4], 0.05)),
    (prefix + "bias_ih_l0", ramp([12], 0.01)), (prefix + "bias_hh_l0", ramp([12], 0.02)),
    ("head.weight", ramp([2, 4], 0.3)), ("head.bias", ramp([2], 0.1)),
  ]
}

/// Loads bytes through the public path (a temporary file), returning the error text or nil.
func loadError(_ bytes: [UInt8], kind: RecurrentKind? = nil) -> String? {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("streamrnn-test-\(UUID().uuidString).safetensors").path
  FileManager.default.createFile(atPath: path, contents: Data(bytes))
  defer { try? FileManager.default.removeItem(atPath: path) }
  do {
    _ = try ModelLoader.load(path: path, kind: kind)
    return nil
  } catch {
    #expect(error.description.hasPrefix(path + ": "), "errors name the file")
    #expect(!error.description.contains("\n"), "errors are one line")
    return error.description
  }
}

func encode(_ tensors: [(name: String, tensor: FloatTensor)], metadata: [String: String] = ["kind": "gru"])
  -> [UInt8]
{
  SafeTensorsFile.encoded(tensors: tensors, metadata: metadata)
}

@Suite("Model files: strict, friendly validation")
struct SafeTensorsValidationTests {
  @Test func aValidFileLoads() throws {
    #expect(loadError(encode(smallGRU())) == nil)
    #expect(loadError(encode(smallGRU(prefix: ""))) == nil)
    let file = try SafeTensorsFile(
      bytes: encode(smallGRU(), metadata: ["kind": "gru", "labels": #"["a","b"]"#]), path: "x")
    let model = try ModelLoader.model(from: file, path: "x")
    #expect(model.kind == .gru && model.hiddenSize == 4 && model.inputSize == 3 && model.outputSize == 2)
    #expect(model.head?.labels == ["a", "b"])
  }

  @Test func truncatedFiles() {
    let bytes = encode(smallGRU())
    #expect(loadError(Array(bytes.prefix(5)))?.contains("truncated") == true)
    #expect(loadError(Array(bytes.prefix(20)))?.contains("truncated") == true)
    #expect(loadError(Array(bytes.dropLast(3)))?.contains("truncated") == true)
    #expect(loadError([])?.contains("truncated") == true)
  }

  @Test func corruptOrOversizedHeaders() {
    var oversized = encode(smallGRU())
    oversized[7] = 0x7F
    #expect(loadError(oversized)?.contains("exceeds the limit") == true)
    var corrupt = encode(smallGRU())
    corrupt[8] = UInt8(ascii: "[")
    #expect(loadError(corrupt)?.contains("corrupt header") == true)
    var extra = encode(smallGRU())
    extra += [0, 0, 0, 0]
    #expect(loadError(extra)?.contains("after the last tensor") == true)
  }

  @Test func missingUnexpectedAndMisshapenTensors() {
    let base = smallGRU()
    let missing = base.filter { $0.name != "rnn.bias_hh_l0" }
    #expect(
      loadError(encode(missing))?.contains("missing tensor 'rnn.bias_hh_l0' (expected shape [12])") == true)
    let unexpected = base + [("rnn.weight_ih_l0_extra", FloatTensor(shape: [1], values: [0]))]
    #expect(loadError(encode(unexpected))?.contains("unexpected tensor 'rnn.weight_ih_l0_extra'") == true)
    let stray = base + [("decoder.bias", FloatTensor(shape: [1], values: [0]))]
    #expect(loadError(encode(stray))?.contains("unexpected tensor 'decoder.bias'") == true)
    var misshapen = base
    misshapen[3] = ("rnn.bias_hh_l0", FloatTensor(shape: [11], values: [Float](repeating: 0, count: 11)))
    let message = loadError(encode(misshapen))
    #expect(
      message?.contains("tensor 'rnn.bias_hh_l0' has shape [11], expected [12]") == true, "\(message ?? "")")
    var badHead = base
    badHead[4] = ("head.weight", FloatTensor(shape: [2, 5], values: [Float](repeating: 0, count: 10)))
    #expect(loadError(encode(badHead))?.contains("'head.weight' has shape [2, 5], expected [2, 4]") == true)
  }

  @Test func wrongKindNamesTheTensorAndTheExpectation() {
    let message = loadError(encode(smallGRU(), metadata: ["kind": "lstm"]))
    #expect(
      message?.contains("tensor 'rnn.weight_ih_l0' has shape [12, 3], expected [16, 3]") == true,
      "\(message ?? "")")
    // The explicit override wins over the file's metadata.
    #expect(loadError(encode(smallGRU(), metadata: ["kind": "lstm"]), kind: .gru) == nil)
    #expect(
      loadError(encode(smallGRU(), metadata: ["kind": "transformer"]))?.contains(
        "metadata kind 'transformer'") == true)
  }

  @Test func kindIsInferredForGRUAndLSTMButNotForRNN() throws {
    let file = try SafeTensorsFile(bytes: encode(smallGRU(), metadata: [:]), path: "x")
    #expect(try ModelLoader.model(from: file, path: "x").kind == .gru)
    let rnn: [(name: String, tensor: FloatTensor)] = [
      ("weight_ih_l0", FloatTensor(shape: [4, 3], values: [Float](repeating: 0.1, count: 12))),
      ("weight_hh_l0", FloatTensor(shape: [4, 4], values: [Float](repeating: 0.1, count: 16))),
    ]
    #expect(loadError(encode(rnn, metadata: [:]))?.contains("--kind rnn_tanh|rnn_relu") == true)
    #expect(loadError(encode(rnn, metadata: [:]), kind: .rnnRelu) == nil)
  }

  @Test func nonFiniteWeightsAreRejected() {
    for bad in [Float.nan, .infinity, -.infinity] {
      var tensors = smallGRU()
      var values = tensors[1].tensor.values
      values[5] = bad
      tensors[1] = ("rnn.weight_hh_l0", FloatTensor(shape: [12, 4], values: values))
      #expect(loadError(encode(tensors))?.contains("'rnn.weight_hh_l0' holds \(bad) at flat index 5") == true)
    }
  }

  @Test func labelsMustMatchTheHead() {
    #expect(
      loadError(encode(smallGRU(), metadata: ["kind": "gru", "labels": #"["a"]"#]))?.contains(
        "1 labels for 2 head outputs") == true)
    #expect(
      loadError(encode(smallGRU(), metadata: ["kind": "gru", "labels": "a,b"]))?.contains("JSON list") == true
    )
    #expect(
      loadError(encode(smallGRU(), metadata: ["kind": "gru", "head_activation": "relu"]))?.contains(
        "head_activation 'relu'") == true)
  }

  @Test func unsupportedDtypeAndMissingFile() {
    let header = Array(#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#.utf8)
    let bytes =
      (0..<8).map { UInt8((header.count >> (8 * $0)) & 0xFF) } + header + [UInt8](repeating: 0, count: 8)
    #expect(loadError(bytes)?.contains("dtype I64; expected F32") == true)
    do {
      _ = try ModelLoader.load(path: "/nonexistent/model.safetensors")
      Issue.record("a missing file loaded")
    } catch {
      #expect(error.description == "/nonexistent/model.safetensors: cannot open: No such file or directory")
    }
  }

  @Test func hugeShapesAreErrorsNotTraps() {
    for shape in ["[4611686018427387904,4]", "[1e300]", "[-1]", "[1.5]"] {
      let header = Array(("{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,4]}}").utf8)
      let bytes = (0..<8).map { UInt8((header.count >> (8 * $0)) & 0xFF) } + header + [0, 0, 0, 0]
      #expect(loadError(bytes)?.contains("corrupt header") == true, "shape \(shape)")
    }
  }

  @Test func fuzzedHeadersNeverCrash() {
    // Random byte flips in the header and data must give an error or a valid model, never a trap.
    var generator = SystemRandomNumberGenerator()
    let original = encode(smallGRU())
    for _ in 0..<300 {
      var bytes = original
      for _ in 0..<Int.random(in: 1...4, using: &generator) {
        bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
          in: 0...255, using: &generator)
      }
      _ = try? SafeTensorsFile(bytes: bytes, path: "fuzz").tensors.count
    }
  }
}

@Suite("Where the head may live")
struct HeadPlacementTests {
  @Test func headBesideANestedRecurrentModule() throws {
    let nested = smallGRU(prefix: "model.rnn.").map { entry in
      entry.name.hasPrefix("head.") ? (name: "model." + entry.name, tensor: entry.tensor) : entry
    }
    #expect(loadError(encode(nested)) == nil)
    let model = try ModelLoader.model(from: SafeTensorsFile(bytes: encode(nested), path: "x"), path: "x")
    #expect(model.head?.classCount == 2)
    // A head elsewhere is not guessed at: it is an unexpected tensor.
    let elsewhere = smallGRU(prefix: "model.rnn.").map { entry in
      entry.name.hasPrefix("head.") ? (name: "other." + entry.name, tensor: entry.tensor) : entry
    }
    #expect(loadError(encode(elsewhere))?.contains("unexpected tensor 'other.head.") == true)
  }
}
