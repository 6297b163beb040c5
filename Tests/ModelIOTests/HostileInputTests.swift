import Features
import Foundation
import ModelIO
import Recurrent
import Testing

/// A safetensors file from a raw header (JSON text) and data bytes.
func rawSafeTensors(header: String, data: [UInt8]) -> [UInt8] {
  var text = Array(header.utf8)
  text += Array(repeating: UInt8(ascii: " "), count: (8 - text.count % 8) % 8)
  let size = UInt64(text.count)
  return (0..<8).map { UInt8((size >> (8 * UInt64($0))) & 0xFF) } + text + data
}

/// A `.npy` file from a raw header text and data bytes.
func rawNpy(header: String, data: [UInt8]) -> [UInt8] {
  let text = Array(header.utf8) + [0x0A]
  return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text + data
}

func npyError(_ bytes: [UInt8]) -> String? {
  do {
    _ = try NpyArray(bytes: bytes, path: "x.npy")
    return nil
  } catch { return error.description }
}

/// The error line is one printable line of bounded length.
func expectClean(
  _ message: String?, contains expected: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard let message else {
    Issue.record("accepted, expected an error containing \(expected)", sourceLocation: sourceLocation)
    return
  }
  #expect(message.contains(expected), "\(message)", sourceLocation: sourceLocation)
  #expect(message.count <= 520, "\(message.count) characters", sourceLocation: sourceLocation)
  #expect(
    !message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
    "control characters: \(message.debugDescription)",
    sourceLocation: sourceLocation)
}

@Suite("Hostile model files, arrays and metadata: refused in one clean line")
struct HostileInputTests {
  /// Two F32 tensors 'a' [2] and 'b' [2] with the given offsets over `dataBytes` bytes.
  func twoTensors(_ a: (Int, Int), _ b: (Int, Int), dataBytes: Int = 16, duplicate: Bool = false) -> [UInt8] {
    let second = duplicate ? "a" : "b"
    let header =
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[\#(a.0),\#(a.1)]},"\#(second)":{"dtype":"F32","shape":[2],"data_offsets":[\#(b.0),\#(b.1)]}}"#
    return rawSafeTensors(header: header, data: [UInt8](repeating: 0, count: dataBytes))
  }

  func safeTensorsError(_ bytes: [UInt8]) -> String? {
    do {
      _ = try SafeTensorsFile(bytes: bytes, path: "m.safetensors")
      return nil
    } catch { return error.description }
  }

  @Test func safeTensorsOffsetsMustTileTheDataExactly() {
    #expect(safeTensorsError(twoTensors((0, 8), (8, 16))) == nil, "the valid layout loads")
    #expect(safeTensorsError(twoTensors((8, 16), (0, 8))) == nil, "order in the header does not matter")
    expectClean(safeTensorsError(twoTensors((0, 8), (4, 12), dataBytes: 12)), contains: "overlaps")
    expectClean(safeTensorsError(twoTensors((0, 8), (0, 8), dataBytes: 8)), contains: "overlaps")
    expectClean(
      safeTensorsError(twoTensors((0, 8), (12, 20), dataBytes: 20)), contains: "belong to no tensor")
    expectClean(
      safeTensorsError(twoTensors((4, 12), (12, 20), dataBytes: 20)), contains: "belong to no tensor")
    expectClean(
      safeTensorsError(twoTensors((0, 8), (8, 16), dataBytes: 20)), contains: "after the last tensor")
    expectClean(safeTensorsError(twoTensors((0, 8), (8, 16), duplicate: true)), contains: "not valid JSON")
  }

  @Test func safeTensorsHugeShapesAndOffsetsDoNotTrap() {
    let header =
      #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,9007199254740991]}}"#
    expectClean(safeTensorsError(rawSafeTensors(header: header, data: [0, 0, 0, 0])), contains: "spans")
    let negative = #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#
    expectClean(
      safeTensorsError(rawSafeTensors(header: negative, data: [0, 0, 0, 0])), contains: "invalid shape")
    // A 1000-character name with an escaped newline and terminal escape: shown short and clean.
    let name = String(repeating: "n", count: 1000) + #"\n\u001b[31m"#
    let long = #"{"\#(name)":{"dtype":"Q8","shape":[1],"data_offsets":[0,4]}}"#
    expectClean(safeTensorsError(rawSafeTensors(header: long, data: [0, 0, 0, 0])), contains: "nnnn…")
  }

  @Test(
    "npy headers follow the format's grammar",
    arguments: [
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4,,), }", "corrupt .npy header"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", "trailing comma"),
      ("{'descr': '<f4', 'fortran_order': False, }", "needs the keys"),
      ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "appears twice"),
      ("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }", "True or False"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", "unknown key"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", "dimension"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } junk", "after the dictionary"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "larger than"),
      (
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3037000500, 3037000500, 3037000500), }",
        "needs more",
      ),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2305843009213693952,), }", "needs more"),
      ("{'descr': '\u{1B}[31m<f4', 'fortran_order': False, 'shape': (3,), }", "not ASCII"),
    ] as [(String, String)])
  func npyGrammar(header: String, expected: String) {
    expectClean(npyError(rawNpy(header: header, data: [UInt8](repeating: 0, count: 12))), contains: expected)
  }

  @Test func npyValidHeadersStillLoad() throws {
    for header in [
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{'fortran_order': False, 'shape': (1, 3), 'descr': '<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 1,)}",
    ] {
      #expect(npyError(rawNpy(header: header, data: [UInt8](repeating: 0, count: 12))) == nil, "\(header)")
    }
    let binary = [0x93] + Array("NUMPY".utf8) + [1, 0, 4, 0, 0xFF, 0xFE, 0x00, 0x0A]
    expectClean(npyError(binary), contains: "not ASCII")
  }

  func featureError(_ text: String) -> String? {
    do {
      _ = try FeatureMetadata.parse(text, path: "m.safetensors")
      return nil
    } catch { return error.description }
  }

  @Test(
    "Feature metadata values are checked against their ranges before use",
    arguments: [
      (#"{"kind": "fbank", "frame_shift": 1e308}"#, "frame_shift"),
      (#"{"kind": "fbank", "frame_length": -5}"#, "frame_length"),
      (#"{"kind": "fbank", "sample_frequency": 1e300}"#, "sample_frequency"),
      (#"{"kind": "fbank", "num_mel_bins": 9007199254740991}"#, "num_mel_bins"),
      (#"{"kind": "logmel", "sample_rate": 0}"#, "sample_rate 0 is out of range: allowed 1000 to 384000"),
      (#"{"kind": "logmel", "sample_rate": 100000000}"#, "sample_rate"),
      (#"{"kind": "logmel", "n_fft": 1073741824}"#, "n_fft"),
      (#"{"kind": "logmel", "hop_length": 0}"#, "hop_length"),
      (#"{"kind": "logmel", "n_mels": 100000}"#, "n_mels"),
      (#"{"kind": "logmel", "power": 1e300}"#, "power"),
    ] as [(String, String)])
  func featureRanges(text: String, expected: String) {
    expectClean(featureError(text), contains: expected)
  }

  @Test func longAndMultiLineValuesAreShownShortAndOnOneLine() {
    let value = String(repeating: "x", count: 1000)
    expectClean(featureError(#"{"kind": "\#(value)"}"#), contains: "…")
    expectClean(featureError(#"{"kind": "logmel", "mel_scale": "a\nb"}"#), contains: "a?b")
  }

  func frontendError(_ metadata: String, convWeight: [Int] = [4, 3, 3]) -> String? {
    let basis = FloatTensor(shape: [6, 1, 8], values: [Float](repeating: 0.1, count: 48))
    let weight = FloatTensor(
      shape: convWeight, values: [Float](repeating: 0.1, count: convWeight.reduce(1, *)))
    let bias = FloatTensor(shape: [convWeight[0]], values: [Float](repeating: 0, count: convWeight[0]))
    do {
      _ = try FrontendMetadata.parse(
        metadata,
        tensors: [
          "frontend.stft.basis": basis, "frontend.conv0.weight": weight, "frontend.conv0.bias": bias,
        ],
        path: "m.safetensors")
      return nil
    } catch { return error.description }
  }

  func frontend(
    stride: String = "1", padding: String = "1", rate: String = "16000", chunk: String = "64",
    context: String = "16", hop: String = "4", padRight: String = "8"
  ) -> String {
    #"{"type": "stft_conv", "sample_rate": \#(rate), "chunk_samples": \#(chunk), "context_samples": \#(context), "stft": {"hop_length": \#(hop), "pad_right": \#(padRight)}, "convs": [{"stride": \#(stride), "padding": \#(padding), "activation": "relu"}]}"#
  }

  @Test func frontendMetadataIsCheckedBeforeAnythingIsSized() {
    #expect(frontendError(frontend()) == nil, "the valid frontend loads")
    expectClean(
      frontendError(frontend(stride: "0")), contains: "conv0 'stride' 0 is out of range: allowed 1 to 64")
    expectClean(frontendError(frontend(padding: "4503599627370496")), contains: "conv0 'padding'")
    expectClean(frontendError(frontend(context: "4503599627370496")), contains: "'context_samples'")
    expectClean(frontendError(frontend(rate: "1e12")), contains: "'sample_rate'")
    expectClean(frontendError(frontend(chunk: "0")), contains: "'chunk_samples'")
    expectClean(frontendError(frontend(hop: "0")), contains: "stft 'hop_length'")
    expectClean(frontendError(frontend(padRight: "-1")), contains: "stft 'pad_right'")
    expectClean(
      frontendError(frontend(stride: "\"" + String(repeating: "s", count: 500) + "\"")), contains: "…")
    // Channels that do not chain: the basis gives 3 bins, the conv takes 5.
    expectClean(frontendError(frontend(), convWeight: [4, 5, 3]), contains: "takes 5 channels but gets 3")
  }

  @Test func labelsAreShortPrintableNames() {
    for labels in [
      #"["a\u0007","b"]"#, #"["","b"]"#, "[\"" + String(repeating: "l", count: 65) + "\",\"b\"]",
    ] {
      let bytes = encode(smallGRU(), metadata: ["kind": "gru", "labels": labels])
      expectClean(loadError(bytes), contains: "printable characters")
    }
  }
}
