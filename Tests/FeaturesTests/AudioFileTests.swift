import AudioFile
import Foundation
import Testing

/// Sample encodings a WAV file can carry, with how libsndfile (and soundfile) map them to float.
enum WavEncoding: CaseIterable, Sendable {
  case unsigned8, signed16, signed24, signed32, float32, float64

  var bytesPerSample: Int {
    switch self {
    case .unsigned8: 1
    case .signed16: 2
    case .signed24: 3
    case .signed32, .float32: 4
    case .float64: 8
    }
  }
  var isFloat: Bool { self == .float32 || self == .float64 }

  /// Little-endian bytes of one sample, and the float libsndfile should decode it to.
  func encode(_ unit: Double) -> (bytes: [UInt8], decoded: Float) {
    func little(_ value: UInt64, _ count: Int) -> [UInt8] {
      (0..<count).map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
    }
    switch self {
    case .unsigned8:
      let code = Int((unit * 127).rounded())
      return ([UInt8(code + 128)], Float(code) / 128)
    case .signed16:
      let code = Int16((unit * 32767).rounded())
      return (little(UInt64(UInt16(bitPattern: code)), 2), Float(code) / 32768)
    case .signed24:
      let code = Int32((unit * 8_388_607).rounded())
      return (little(UInt64(UInt32(bitPattern: code)), 3), Float(Double(code) / 8_388_608))
    case .signed32:
      let code = Int32((unit * 2_147_483_000).rounded())
      return (little(UInt64(UInt32(bitPattern: code)), 4), Float(Double(code) / 2_147_483_648))
    case .float32:
      let value = Float(unit)
      return (little(UInt64(value.bitPattern), 4), value)
    case .float64:
      return (little(unit.bitPattern, 8), Float(unit))
    }
  }
}

/// A WAV file (canonical or WAVE_FORMAT_EXTENSIBLE) holding `frames` of `channels` samples.
func wavFile(encoding: WavEncoding, channels: Int, rate: Int, frames: [[Double]], extensible: Bool)
  -> (bytes: [UInt8], decoded: [[Float]])
{
  func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
  func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
  var data: [UInt8] = []
  var decoded: [[Float]] = []
  for frame in frames {
    decoded.append(
      frame.map { unit in
        let sample = encoding.encode(unit)
        data += sample.bytes
        return sample.decoded
      })
  }
  let blockAlign = channels * encoding.bytesPerSample
  let formatTag = encoding.isFloat ? 3 : 1
  var format = u16(extensible ? 0xFFFE : formatTag) + u16(channels) + u32(rate) + u32(rate * blockAlign)
  format += u16(blockAlign) + u16(encoding.bytesPerSample * 8)
  if extensible {
    // cbSize, valid bits, channel mask, sub-format GUID (PCM or IEEE float).
    format += u16(22) + u16(encoding.bytesPerSample * 8) + u32(channels == 1 ? 4 : 3)
    format +=
      u16(formatTag) + [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
  }
  var body = Array("WAVE".utf8) + Array("fmt ".utf8) + u32(format.count) + format
  body += Array("data".utf8) + u32(data.count) + data
  if data.count % 2 == 1 { body.append(0) }
  return (Array("RIFF".utf8) + u32(body.count) + body, decoded)
}

func writeTemporary(_ bytes: [UInt8], suffix: String = ".wav") -> String {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "streamrnn-\(UUID().uuidString)\(suffix)"
  ).path
  FileManager.default.createFile(atPath: path, contents: Data(bytes))
  return path
}

func errorText(_ body: () throws -> Void) -> String {
  do {
    try body()
    return "no error"
  } catch { return "\(error)" }
}

@Suite("Audio files: libsndfile decoding, channels, resampling, errors")
struct AudioFileTests {
  static let signal: [[Double]] = (0..<1000).map { index in
    let t = Double(index)
    return [
      0.9 * sin(t * 0.05), 0.5 * cos(t * 0.031) - 0.25, -0.999 + 0.001 * t.truncatingRemainder(dividingBy: 7),
    ]
  }

  @Test(
    "Every WAV encoding decodes as soundfile does",
    arguments: WavEncoding.allCases, [false, true])
  func decodesEveryEncoding(encoding: WavEncoding, extensible: Bool) throws {
    let file = wavFile(
      encoding: encoding, channels: 3, rate: 16000, frames: Self.signal, extensible: extensible)
    let path = writeTemporary(file.bytes)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let reader = try AudioFileReader(path: path)
    #expect(reader.channelCount == 3 && reader.sampleRate == 16000 && reader.frameCount == 1000)
    for channel in 0..<3 {
      let samples = try MonoAudioStream(path: path, channel: .channel(channel)).readAll()
      #expect(samples == file.decoded.map { $0[channel] }, "\(encoding) channel \(channel)")
    }
    let mean = try MonoAudioStream(path: path).readAll()
    #expect(mean == file.decoded.map { ($0[0] + $0[1] + $0[2]) / 3 })
  }

  @Test func smallBlocksReadTheSameSamples() throws {
    let path = FeatureGoldenCase.folder + "/audio/stereo_44k1_s24.wav"
    let whole = try MonoAudioStream(path: path, blockFrames: 1 << 16).readAll()
    let blocked = try MonoAudioStream(path: path, blockFrames: 37).readAll()
    #expect(whole.count == 44100 && whole == blocked)
  }

  @Test func resamplingLengthAndPassThrough() throws {
    let path = FeatureGoldenCase.folder + "/audio/stereo_44k1_s24.wav"
    let resampled = try MonoAudioStream(path: path, outputRate: 16000).readAll()
    #expect(resampled.count == 16000)  // round(44100 × 16000 / 44100)
    let resampledSmallBlocks = try MonoAudioStream(path: path, outputRate: 16000, blockFrames: 101).readAll()
    #expect(resampledSmallBlocks == resampled)
    let native = try MonoAudioStream(
      path: FeatureGoldenCase.folder + "/audio/noise_16k_s16.wav", outputRate: 16000)
    let raw = try MonoAudioStream(path: FeatureGoldenCase.folder + "/audio/noise_16k_s16.wav")
    #expect(try native.readAll() == raw.readAll())
  }

  @Test func errorsNameTheFileAndTheProblem() throws {
    let good = wavFile(
      encoding: .signed16, channels: 1, rate: 16000, frames: Self.signal.map { [$0[0]] }, extensible: false)
    let truncated = writeTemporary(Array(good.bytes.prefix(good.bytes.count - 500)))
    let empty = writeTemporary([])
    let text = writeTemporary(Array("not audio at all, just text".utf8))
    let noData = writeTemporary(Array(good.bytes.prefix(36)))
    let mono = writeTemporary(good.bytes)
    defer {
      for path in [truncated, empty, text, noData, mono] { try? FileManager.default.removeItem(atPath: path) }
    }

    #expect(
      errorText { _ = try AudioFileReader(path: "/nonexistent/a.wav") }
        == "/nonexistent/a.wav: cannot open: No such file or directory")
    #expect(
      errorText { _ = try AudioFileReader(path: empty) } == "\(empty): empty file (0 bytes), expected audio")
    #expect(
      errorText { _ = try AudioFileReader(path: text) }.hasPrefix(
        "\(text): not a readable audio file (libsndfile sf_open: "))
    #expect(
      errorText { _ = try AudioFileReader(path: noData) }.hasPrefix("\(noData): not a readable audio file"))
    #expect(errorText { _ = try AudioFileReader(path: truncated) }.hasPrefix("\(truncated): truncated: "))
    #expect(
      errorText { _ = try MonoAudioStream(path: mono, channel: .channel(1)) }.contains(
        "has 1 channel, no channel 1"))
    #expect(
      errorText { _ = try AudioFileReader(path: FeatureGoldenCase.folder) }.contains("not a regular file"))
  }

  @Test(arguments: ["speech_16k_s16.wav", "speech_22k05.flac", "stereo_44k1_s24.wav"])
  func bytesInMemoryReadLikeTheFile(name: String) throws {
    let path = FeatureGoldenCase.folder + "/audio/" + name
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let fromFile = try MonoAudioStream(path: path, outputRate: 16000).readAll()
    let reader = try AudioFileReader(bytes: bytes, name: name)
    let fromMemory = try MonoAudioStream(reader: reader, outputRate: 16000).readAll()
    #expect(fromMemory.count > 10_000 && fromMemory == fromFile)
    #expect(
      errorText { _ = try AudioFileReader(bytes: Array(bytes.prefix(40)), name: "cut.wav") }.hasPrefix(
        "cut.wav: "))
    #expect(
      errorText { _ = try AudioFileReader(bytes: [], name: "none") }
        == "none: empty file (0 bytes), expected audio")
  }

  @Test func aRejectedFileIsClosedOnce() throws {
    // FuzzAudio's finding (Tests/Fuzz/Regressions/FuzzAudio): a WAV that libsndfile opens but that
    // is refused (here: no audio) was closed by the refusal and again by deinit, a double free.
    let bytes: [UInt8] = [
      0x52, 0x49, 0x46, 0x46, 0xB4, 0x01, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, 0x66, 0x6D, 0x74, 0x20,
      0x10, 0x00, 0x00, 0x00, 0x40, 0x00, 0x01, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x00, 0xFA, 0x00, 0x00,
      0x04, 0x00, 0x3A, 0x00, 0x64, 0x61, 0x74, 0x61, 0x90, 0x01, 0x00, 0x02, 0x00,
    ]
    for _ in 0..<100 {
      let text = errorText { _ = try AudioFileReader(bytes: bytes, name: "fuzz.wav") }
      #expect(text.hasPrefix("fuzz.wav: ") && !text.contains("\n"), "\(text)")
    }
    // The same through a file on disk.
    let path = writeTemporary(bytes)
    #expect(errorText { _ = try AudioFileReader(path: path) }.hasPrefix(path + ": "))
  }

  @Test func headersThatDeclareTheImpossibleAreRefused() throws {
    let good = wavFile(
      encoding: .signed16, channels: 1, rate: 16000, frames: Self.signal.map { [$0[0]] }, extensible: false)
    func patched(_ offset: Int, _ values: [UInt8]) -> String {
      var bytes = good.bytes
      for (index, value) in values.enumerated() { bytes[offset + index] = value }
      return writeTemporary(bytes)
    }
    // The canonical header: fmt chunk at 12, its rate at 24, block align at 32, bits at 34.
    let sevenBits = patched(34, [7, 0])
    let thirtyThreeBits = patched(34, [33, 0])
    let oneHertz = patched(24, [1, 0, 0, 0])
    let hugeRate = patched(24, [0xFF, 0xFF, 0xFF, 0x7F])
    defer {
      for path in [sevenBits, thirtyThreeBits, oneHertz, hugeRate] {
        try? FileManager.default.removeItem(atPath: path)
      }
    }
    #expect(errorText { _ = try AudioFileReader(path: sevenBits) }.contains("declares 7 bits per sample"))
    let wide = errorText { _ = try AudioFileReader(path: thirtyThreeBits) }
    #expect(wide.contains("bits per sample") || wide.contains("not a readable audio file"), "\(wide)")
    for path in [oneHertz, hugeRate] {
      let message = errorText { _ = try MonoAudioStream(path: path, outputRate: 16000) }
      #expect(message.contains("out of range") || message.contains("not a readable audio file"), "\(message)")
    }
    #expect(errorText { _ = try Resampler(inputRate: 1000, outputRate: 384_000 * 4) }.contains("ratio"))
    #expect(errorText { _ = try Resampler(inputRate: .nan, outputRate: 16000) }.contains("out of range"))
  }

  @Test func aStreamingWriterPlaceholderLengthIsNotTruncation() throws {
    var bytes = wavFile(
      encoding: .signed16, channels: 1, rate: 16000, frames: Self.signal.map { [$0[0]] }, extensible: false
    ).bytes
    // Data size unknown, as arecord writes it to a pipe.
    bytes.replaceSubrange(40..<44, with: [0xFF, 0xFF, 0xFF, 0xFF])
    let path = writeTemporary(bytes)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(try MonoAudioStream(path: path).readAll().count == 1000)
  }
}
