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
