import Foundation
import ModelIO
import Testing

let demoPauses = packageRoot.appendingPathComponent("Examples/demo/speech_with_pauses.wav").path

@Suite("streamrnn replay --streams and bench --streams follow their contract")
struct MultiStreamCommandTests {
  @Test func everySessionFileEqualsASingleReplayByteForByte() throws {
    let folder = temporaryPath("streams-\(UUID().uuidString)")
    let result = try streamrnn([
      "replay", demoSpeech, demoPauses, "--streams", "3", "--threads", "2", "--pace", "max", "--no-timings",
      "--segments", "--out-dir", folder, "--stats-json", folder + "/stats.json",
    ])
    #expect(result.status == 0, "\(result.standardError)")
    for (index, file) in [demoSpeech, demoPauses, demoSpeech].enumerated() {
      let single = temporaryPath("single-\(index)-\(UUID().uuidString).jsonl")
      let alone = try streamrnn([
        "replay", file, "--pace", "max", "--no-timings", "--segments", "--out", single,
      ])
      #expect(alone.status == 0, "\(alone.standardError)")
      let expected = try Data(contentsOf: URL(fileURLWithPath: single))
      let actual = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/session-00\(index).jsonl"))
      #expect(actual.count > 10_000 && actual == expected, "session \(index) differs from a single replay")
      #expect(String(decoding: actual, as: UTF8.self).contains("\"start_sample\""))
    }
    let stats = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/stats.json")))
        as? [String: Any])
    #expect(stats["sessions"] as? Int == 3 && stats["dropped_samples"] as? Int == 0)
    #expect(stats["dropped_records"] as? Int == 0)
  }

  @Test func logMelSessionsEqualASingleReplayByteForByte() throws {
    // 40-bin log-mel frames, transformed 16 sessions at a time in the engine and one at a time in a
    // single replay.
    let model = packageRoot.appendingPathComponent("Examples/demo/gru2x64-head2.safetensors").path
    let folder = temporaryPath("streams-logmel-\(UUID().uuidString)")
    let result = try streamrnn([
      "replay", demoSpeech, demoPauses, "--model", model, "--streams", "20", "--threads", "1", "--pace",
      "max",
      "--no-timings", "--out-dir", folder,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    for (index, file) in [demoSpeech, demoPauses].enumerated() {
      let single = temporaryPath("single-logmel-\(index)-\(UUID().uuidString).jsonl")
      let alone = try streamrnn([
        "replay", file, "--model", model, "--pace", "max", "--no-timings", "--out", single,
      ])
      #expect(alone.status == 0, "\(alone.standardError)")
      let expected = try Data(contentsOf: URL(fileURLWithPath: single))
      #expect(expected.count > 10_000)
      for session in stride(from: index, to: 20, by: 2) {
        let name = String(format: "%@/session-%03d.jsonl", folder, session)
        let actual = try Data(contentsOf: URL(fileURLWithPath: name))
        #expect(actual == expected, "session \(session) differs from a single replay")
      }
    }
  }

  @Test func npySessionsEqualASingleReplay() throws {
    let folder = temporaryPath("streams-npy-\(UUID().uuidString)")
    let result = try streamrnn([
      "replay", demoSpeech, "--streams", "2", "--pace", "max", "--format", "npy", "--out-dir", folder,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let single = temporaryPath("single-\(UUID().uuidString).npy")
    #expect(
      try streamrnn(["replay", demoSpeech, "--pace", "max", "--format", "npy", "--out", single]).status == 0)
    let expected = try NpyArray(path: single)
    for index in 0..<2 {
      let actual = try NpyArray(path: "\(folder)/session-00\(index).npy")
      #expect(actual.shape == expected.shape && actual.values == expected.values)
    }
  }

  @Test func realTimeSessionsRunStaggeredWithoutDrops() throws {
    // One second of the demo speech, 4 sessions at real-time pace, staggered over the first second
    // (few enough for the debug build on a loaded 2-core machine).
    let short = temporaryPath("short-\(UUID().uuidString).wav")
    let samples = try Data(contentsOf: URL(fileURLWithPath: demoSpeech))
    var wav = Data(samples.prefix(44))
    let pcm = samples.dropFirst(44).prefix(32_000)
    wav.append(pcm)
    wav.withUnsafeMutableBytes { bytes in
      bytes.storeBytes(of: UInt32(36 + pcm.count).littleEndian, toByteOffset: 4, as: UInt32.self)
      bytes.storeBytes(of: UInt32(pcm.count).littleEndian, toByteOffset: 40, as: UInt32.self)
    }
    FileManager.default.createFile(atPath: short, contents: wav)
    let stats = temporaryPath("rt-\(UUID().uuidString).json")
    let started = Date()
    let result = try streamrnn([
      "replay", short, "--streams", "4", "--stagger", "--quiet", "--stats-json", stats,
    ])
    let elapsed = Date().timeIntervalSince(started)
    #expect(result.status == 0, "\(result.standardError)")
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
    #expect(json["dropped_samples"] as? Int == 0 && json["sessions"] as? Int == 4)
    #expect(json["frames"] as? Int == 4 * 32)
    // Paced: at least the audio's second, at most the stagger plus the audio plus slack.
    #expect(elapsed >= 1.0 && elapsed < 10)
  }

  @Test func optionsThatDoNotFitAreOneLineErrors() throws {
    let cases: [([String], String)] = [
      (["replay", demoSpeech, "--streams", "2"], "give --out-dir DIR"),
      (["replay", demoSpeech, "--streams", "2", "--out", "x.jsonl"], "use --out-dir DIR, not --out"),
      (["replay", demoSpeech, "--out-dir", "d"], "--out-dir goes with --streams"),
      (["replay", demoSpeech, "--streams", "0", "--quiet"], "--streams 0"),
      (["replay", demoSpeech, "--threads", "2"], "--threads and --stagger go with --streams"),
    ]
    for (arguments, expected) in cases {
      let result = try streamrnn(arguments)
      #expect(
        result.status != 0 && result.standardError.contains(expected), "\(arguments): \(result.standardError)"
      )
      #expect(result.standardError.split(separator: "\n").count <= 3)
    }
  }
}
