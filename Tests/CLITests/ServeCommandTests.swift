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
  ])
  func refused(arguments: [String], expected: String) throws {
    try expectRefused(arguments, expected)
  }

  @Test func sigtermDrainsAndExitsZero() throws {
    let process = Process()
    process.executableURL = try streamrnnExecutable()
    process.arguments = ["serve", "--port", "0", "--threads", "1", "--drain-seconds", "1"]
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
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 0)
  }
}
