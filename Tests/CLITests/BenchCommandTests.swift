import Foundation
import Testing

@Suite("streamrnn bench follows its contract")
struct BenchCommandTests {
  @Test func zooLinesAndJSON() throws {
    let json = temporaryPath("bench-\(UUID().uuidString).json")
    let result = try streamrnn(["bench", "--zoo", "--steps", "200", "--warmup", "20", "--json", json])
    #expect(result.status == 0, "\(result.standardError)")
    let names = ["gru2x64+head", "lstm2x64+head", "gru1x256", "lstm1x256", "gru1x16"]
    for name in names {
      #expect(result.standardOutput.contains("\(name) "), "no line for \(name)")
    }
    let data = try Data(contentsOf: URL(fileURLWithPath: json))
    let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let results = try #require(document["results"] as? [[String: Any]])
    #expect(results.compactMap { $0["model"] as? String } == names)
    for entry in results {
      for key in ["median_us", "p90_us", "p99_us", "max_us", "block_mean_us"] {
        let value = try #require(entry[key] as? Double, "\(key)")
        #expect(value > 0 && value.isFinite)
      }
      // Timings are measured, never asserted; allocations are a contract: none per step.
      #expect(entry["allocs_per_step"] as? Double == 0, "\(entry["model"] ?? "")")
    }
  }

  @Test func streamsBenchKeysPacedAndUnpaced() throws {
    // The contract, not the speed: every session's frames are counted and the keys are there.
    let paced = temporaryPath("bench-streams-\(UUID().uuidString).json")
    let result = try streamrnn([
      "bench", "--streams", "4", "--threads", "1", "--seconds", "0.5", "--json", paced,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let document = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: paced))) as? [String: Any])
    let run = try #require(document["result"] as? [String: Any])
    // 0.5 s of 32 ms chunks: 15 per session.
    #expect(run["frames"] as? Int == 4 * 15 && run["dropped_samples"] as? Int == 0)
    #expect(document["poll_us"] as? Int == 1000)
    let unpacedJSON = temporaryPath("bench-unpaced-\(UUID().uuidString).json")
    let unpaced = try streamrnn([
      "bench", "--streams", "6", "--unpaced", "--seconds", "0.5", "--json", unpacedJSON,
    ])
    #expect(unpaced.status == 0, "\(unpaced.standardError)")
    #expect(unpaced.standardOutput.contains("6 sessions unpaced, one worker on this thread:"))
    let second = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: unpacedJSON)))
        as? [String: Any])
    let figures = try #require(second["unpaced"] as? [String: Any])
    #expect(figures["frames"] as? Int == 6 * 13, "15 rounds less 2 warm-up rounds")
    #expect((figures["nanoseconds_per_frame"] as? Double ?? 0) > 0)
    let refused = try streamrnn(["bench", "--unpaced"])
    #expect(refused.status != 0 && refused.standardError.contains("--unpaced goes with --streams N"))
  }

  @Test func halfWeights() throws {
    let json = temporaryPath("bench-f16-\(UUID().uuidString).json")
    let result = try streamrnn([
      "bench", "--zoo", "--no-features", "--weights", "f16", "--steps", "200", "--warmup", "20", "--json",
      json,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let data = try Data(contentsOf: URL(fileURLWithPath: json))
    let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(document["weights"] as? String == "f16")
    let results = try #require(document["results"] as? [[String: Any]])
    #expect(results.count == 5)
    #expect(results.allSatisfy { $0["allocs_per_step"] as? Double == 0 })
    let refused = try streamrnn(["bench", "--zoo", "--weights", "f8"])
    #expect(refused.status != 0 && refused.standardError.contains("f8"), "\(refused.standardError)")
  }

  @Test func aBidirectionalModelIsRefused() throws {
    let result = try streamrnn([
      "bench", "--model", golden("gru_bi_2x15_in8_head4", "model.safetensors"), "--steps", "100",
    ])
    #expect(result.status != 0)
    #expect(result.standardError.contains("bidirectional"))
  }

  @Test func aLayerGraphIsTimedPerFrameWithoutAllocating() throws {
    let json = temporaryPath("bench-graph-\(UUID().uuidString).json")
    let graph = packageRoot.appendingPathComponent(
      "Tests/Golden/network/depthwise_activations/model.safetensors"
    ).path
    let result = try streamrnn([
      "bench", "--model", graph, "--steps", "300", "--warmup", "30", "--no-features", "--json", json,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    #expect(result.standardOutput.contains("allocs/frame 0"))
    let document = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
    let results = try #require(document["results"] as? [[String: Any]])
    #expect(results.count == 1 && results[0]["allocs_per_step"] as? Double == 0)
  }
}
