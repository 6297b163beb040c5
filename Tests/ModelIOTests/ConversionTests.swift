import ModelIO
import Testing

@testable import ModelIO

@Suite("dtype conversion and .npy files")
struct ConversionTests {
  @Test func halfPrecisionConvertsExactly() {
    #expect(halfToFloat(0x3C00) == 1)
    #expect(halfToFloat(0xC000) == -2)
    #expect(halfToFloat(0x7BFF) == 65504)
    #expect(halfToFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))  // smallest subnormal
    #expect(halfToFloat(0x03FF) == Float(1023) * Float(sign: .plus, exponent: -24, significand: 1))
    #expect(halfToFloat(0x7C00) == .infinity && halfToFloat(0xFC00) == -.infinity)
    #expect(halfToFloat(0x7E00).isNaN)
    #expect(halfToFloat(0x8000).sign == .minus && halfToFloat(0x8000) == 0)
  }

  @Test func npyRoundTripsAndMatchesNumPyLayout() throws {
    let array = NpyArray(shape: [2, 3], values: [1, -2, 3.5, 0, .pi, -0.25])
    let bytes = array.encoded()
    #expect((bytes.count - array.values.count * 4) % 64 == 0, "data starts 64-byte aligned")
    #expect(try NpyArray(bytes: bytes, path: "x") == array)
    let vector = NpyArray(shape: [4], values: [1, 2, 3, 4])
    #expect(try NpyArray(bytes: vector.encoded(), path: "x") == vector)
    let empty = NpyArray(shape: [0, 5], values: [])
    #expect(try NpyArray(bytes: empty.encoded(), path: "x") == empty)
  }

  @Test func npyRejectsWhatIsNotFloat32COrder() {
    func npy(_ header: String, dataBytes: Int) -> [UInt8] {
      var text = header
      text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
      return [0x93] + Array("NUMPY".utf8) + [
        1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8),
      ]
        + Array(text.utf8) + [UInt8](repeating: 0, count: dataBytes)
    }
    func message(_ bytes: [UInt8]) -> String {
      do {
        _ = try NpyArray(bytes: bytes, path: "frames.npy")
        return "loaded"
      } catch { return error.description }
    }
    #expect(
      message(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", dataBytes: 48)).contains(
        "dtype '<f8', expected float32"))
    #expect(
      message(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", dataBytes: 24)).contains(
        "Fortran"))
    #expect(
      message(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", dataBytes: 20)).contains(
        "truncated"))
    #expect(message(Array("hello world".utf8)).contains("not a .npy file"))
    #expect(
      message(
        npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }", dataBytes: 8)
      ).contains("truncated"))
    #expect(
      message(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", dataBytes: 24)) == "loaded")
  }
}
