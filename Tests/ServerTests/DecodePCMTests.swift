import Testing
import WireProtocol

@testable import Server

/// The fast path's word-at-a-time decoder against a byte-at-a-time reading of the same masked
/// bytes: every length from 0 to 67 bytes (odd s16 sample counts, f32 tails), several keys.
@Suite struct DecodePCMTests {
  /// Byte `index` of a masked payload, unmasked as RFC 6455 §5.3 says (key byte `index mod 4`).
  static func unmasked(_ bytes: [UInt8], _ key: [UInt8], _ index: Int) -> UInt8 {
    bytes[index] ^ key[index % 4]
  }

  @Test(arguments: [[0, 0, 0, 0], [0x12, 0x34, 0x56, 0x78], [0xff, 0x01, 0x80, 0x7f]] as [[UInt8]])
  func wordsEqualBytes(key: [UInt8]) {
    var generator = SplitMix(seed: 7)
    let packed = UInt32(key[0]) | UInt32(key[1]) << 8 | UInt32(key[2]) << 16 | UInt32(key[3]) << 24
    for length in 0..<68 {
      let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      let output = UnsafeMutableBufferPointer<Float>.allocate(capacity: 64)
      defer { output.deallocate() }

      // s16: every whole sample, the last of an odd count included.
      output.initialize(repeating: 99)
      #expect(bytes.withUnsafeBytes { decodePCM($0, .pcmS16LE, maskKey: packed, into: output) })
      for sample in 0..<(length / 2) {
        let low = UInt16(Self.unmasked(bytes, key, 2 * sample))
        let high = UInt16(Self.unmasked(bytes, key, 2 * sample + 1))
        #expect(output[sample] == Float(Int16(bitPattern: low | high << 8)) / 32768, "length \(length)")
      }
      #expect(output[length / 2] == 99, "nothing written past the samples")

      // f32: finite values round-trip bit for bit; any NaN or infinity makes the result false.
      output.initialize(repeating: 99)
      let finite = bytes.withUnsafeBytes { decodePCM($0, .pcmF32LE, maskKey: packed, into: output) }
      var allFinite = true
      for sample in 0..<(length / 4) {
        var bits: UInt32 = 0
        for byte in 0..<4 { bits |= UInt32(Self.unmasked(bytes, key, 4 * sample + byte)) << (8 * byte) }
        #expect(output[sample].bitPattern == bits, "length \(length)")
        allFinite = allFinite && Float(bitPattern: bits).isFinite
      }
      #expect(finite == allFinite)
    }
  }

  @Test func aNonFiniteFloatIsReported() {
    let values: [Float] = [0.5, .nan, -0.25]
    let output = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
    defer { output.deallocate() }
    let finite = values.withUnsafeBytes { decodePCM($0, .pcmF32LE, maskKey: 0, into: output) }
    #expect(!finite)
    #expect(output[0] == 0.5 && output[2] == -0.25)
  }
}

/// A small deterministic generator (SplitMix64).
private struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
