import Foundation
import Testing

@Suite("streamrnn serve on the command line")
struct ServeCommandTests {
  @Test(arguments: [
    (["serve", "--host", "0.0.0.0"], "--token-file"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--max-sessions", "0"], "--max-sessions"),
    (["serve", "--idle-timeout", "nan"], "--idle-timeout"),
    (["serve", "--max-message-bytes", "10"], "--max-message-bytes"),
    (["serve", "--token-file", "/nonexistent/tokens"], "tokens"),
    (["serve", "--model", "/nonexistent/model.safetensors"], "model.safetensors"),
    (["serve", "--io-threads", "0"], "--io-threads"),
    (["serve", "--send-buffer-bytes", "100"], "--send-buffer-bytes"),
    (["serve", "--send-buffer-bytes", "99999999999"], "--send-buffer-bytes"),
    (["loadgen", "http://127.0.0.1:1/v1/stream", "--file", "x.wav"], "ws://"),
    (["loadgen", "ws://127.0.0.1:99999/v1/stream", "--file", "x.wav"], "port"),
    (["loadgen", "ws://127.0.0.1:1/v1/stream", "--file", "x.wav", "--streams", "0"], "--streams"),
    (["loadgen", "ws://127.0.0.1:1/v1/stream", "--file", "x.wav", "--seconds", "nan"], "--seconds"),
    (["loadgen", "ws://127.0.0.1:1/v1/stream", "--file", "/nonexistent/x.wav"], "x.wav"),
  ])
  func refused(arguments: [String], expected: String) throws {
    try expectRefused(arguments, expected)
  }

  @Test func sigtermDrainsAndExitsZero() throws {
    let (process, _) = try startServer(["--drain-seconds", "1"])
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 0)
  }

  /// `streamrnn loadgen` against `streamrnn serve` on one event loop (the concurrency executor
  /// taken over): every session ends with 1000 and every frame of the audio sent comes back; with
  /// `--outputs events`, after a calibration session, the events get latencies.
  @Test(arguments: ["frames", "events"])
  func theLoadGeneratorGetsEveryFrameBack(outputs: String) throws {
    let (server, url) = try startServer(["--io-threads", "1"])
    defer {
      kill(server.processIdentifier, SIGTERM)
      server.waitUntilExit()
    }
    let json = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(getpid()).json").path
    defer { try? FileManager.default.removeItem(atPath: json) }
    let result = try streamrnn([
      "loadgen", url, "--streams", "4", "--seconds", "3", "--outputs", outputs, "--file",
      packageRoot.appendingPathComponent("Sources/CBundledModels/demo_speech_16k.wav").path,
      "--server-pid", "\(server.processIdentifier)", "--json", json,
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let summary = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
    #expect(summary["close_codes"] as? [String: Int] == ["1000": 4])
    // 3 s of 32 ms frames per session, less the start spread over one 20 ms message.
    let expected = try #require(summary["frames_expected"] as? Int)
    #expect((4 * 92)...(4 * 94) ~= expected)
    #expect(summary["frames_received"] as? Int == expected)
    #expect(summary["frames_lost"] as? Int == 0)
    #expect(summary["latency_of"] as? String == outputs)
    let latency = try #require(summary["latency_ms"] as? [String: Double])
    #expect(latency["p50"].map { $0 > 0 && $0 < 1000 } == true)
    #expect(summary["server_cpu_cores"] is Double)
    if outputs == "events" {
      // The recording's first 3 s hold a discarded blip and a segment: every session sees them.
      let events = try #require(summary["events"] as? Int)
      #expect(events >= 4 * 3)
      #expect(summary["events_unmatched"] as? Int ?? -1 < events / 2)
    }
  }

  /// `streamrnn serve --port 0 --threads 1 ARGUMENTS`, once it listens: the process and its URL.
  private func startServer(_ arguments: [String]) throws -> (Process, String) {
    let process = Process()
    process.executableURL = try streamrnnExecutable()
    process.arguments = ["serve", "--port", "0", "--threads", "1"] + arguments
    let error = Pipe()
    process.standardError = error
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    // The listening line names the port.
    var text = ""
    let deadline = Date().addingTimeInterval(30)
    while !text.contains("/v1/stream"), Date() < deadline {
      text += String(decoding: error.fileHandleForReading.availableData, as: UTF8.self)
    }
    #expect(text.contains("serving silero_vad on ws://127.0.0.1:"), "\(text)")
    let url = text.split(separator: " ").first { $0.hasPrefix("ws://") }.map {
      String($0.prefix { !$0.isWhitespace })
    }
    return (process, url ?? "ws://127.0.0.1:1/v1/stream")
  }
}
