import Foundation
import Testing

/// Runs `command` (a shell command line) in a detached tmux session of 120×30 cells, captures the
/// pane after `at` seconds, and again when the command has finished. Returns both captures.
func tmuxCaptures(_ command: String, at seconds: Double, session: String) throws -> (
  during: String, after: String
) {
  // The tmux server (forked by new-session) must not inherit a pipe this side reads to its end.
  func tmux(_ arguments: [String], output: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["tmux", "-L", "streamrnn-test-\(getpid())"] + arguments
    let pipe = Pipe()
    process.standardOutput = output ? pipe : FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }
  let done = temporaryPath("\(session).done")
  // Started through system(): the tmux server it forks keeps the descriptors it inherits, and
  // Foundation's Process waits for one of its own to close before it reports the client's exit.
  let start =
    "tmux -L streamrnn-test-\(getpid()) new-session -d -s \(session) -x 120 -y 30 '\(command); touch \(done); sleep 60' </dev/null >/dev/null 2>&1"
  #expect(system(start) == 0, "tmux could not start a session")
  defer { _ = system("tmux -L streamrnn-test-\(getpid()) kill-session -t \(session) >/dev/null 2>&1") }
  Thread.sleep(forTimeInterval: seconds)
  let during = try tmux(["capture-pane", "-p", "-t", session], output: true)
  let deadline = Date().addingTimeInterval(60)
  while !FileManager.default.fileExists(atPath: done) && Date() < deadline {
    Thread.sleep(forTimeInterval: 0.2)
  }
  return (during, try tmux(["capture-pane", "-p", "-t", session], output: true))
}

@Suite("The live meter, seen in tmux")
struct MeterTests {
  let binary = (try? streamrnnExecutable().path) ?? "streamrnn"

  @Test func realtimeReplayShowsTheMeterAndErasesItAtTheEnd() throws {
    let out = temporaryPath("meter-\(UUID().uuidString).jsonl")
    let (during, after) = try tmuxCaptures(
      "\(binary) replay \(demoSpeech) --model \(demoModel) --out \(out)", at: 2.5, session: "meter")
    let lines = during.split(separator: "\n").map(String.init)
    // The header, the input level and one bar per label, at the top of the pane.
    #expect(
      lines.first?.hasPrefix("streamrnn ") == true && lines.first?.contains("frames") == true, "\(during)")
    #expect(lines.contains { $0.hasPrefix("input") && $0.contains(" dB ") && $0.contains("█") })
    #expect(lines.contains { $0.hasPrefix("quiet") && $0.contains("░") })
    #expect(lines.contains { $0.hasPrefix("active") && $0.contains("░") })
    // The meter is gone when the stream ends; the statistics are there.
    #expect(!after.contains(" dB ") && after.contains("frames 500, dropped 0"), "\(after)")
    #expect(FileManager.default.fileExists(atPath: out))
  }

  @Test func recordsToTheTerminalKeepTheMeterOffUnlessAskedFor() throws {
    let (during, _) = try tmuxCaptures(
      "\(binary) replay \(demoSpeech) --model \(demoModel) --every 50 --no-timings", at: 2.5,
      session: "records")
    #expect(during.contains("\"frame\":0,") && !during.contains(" dB "), "\(during)")
    let (quiet, _) = try tmuxCaptures(
      "\(binary) replay \(demoSpeech) --model \(demoModel) --quiet --no-meter", at: 2.5, session: "nometer")
    #expect(!quiet.contains(" dB ") && quiet.contains("capture-to-output p99"), "\(quiet)")
  }
}
