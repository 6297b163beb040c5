import ArgumentParser
import AudioFile
import CommandLineMain
import NIOPosix
import Pipeline
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn-loadgen` (also reached as `streamrnn loadgen`): N concurrent sessions against
/// `streamrnn serve`, real-time paced, measuring every frame's latency over the network.
///
/// One event loop thread (SwiftNIO) drives every connection, with pre-cut 20 ms messages, so that
/// the load generator itself stays cheap enough to load a server core (pin it to another core with
/// `taskset`).
@main
struct LoadGenCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "streamrnn loadgen",
    abstract: "Load a streamrnn server with N real-time WebSocket audio streams and measure latency.",
    discussion: """
      Each session sends the recording (16-bit PCM, looped) in 20 ms binary messages at real-time \
      pace, then eof. Prints one JSON line: frames expected and received, per-frame latency (last \
      sample of the frame sent → its result received: p50/p99/max, ms; with --outputs frames), \
      frames later than 20 ms, events, close codes, the largest p99 a session's stats reported \
      (server_p99_us_max), and the CPU (cores) of this process and, with --server-pid, of the \
      server.
      """)

  @Argument(help: "The server's endpoint, ws://HOST:PORT/v1/stream.")
  var url: String

  @Option(help: "Concurrent sessions (1 to 100000).")
  var streams = 10

  @Option(help: "A mono 16-bit PCM WAV to send (looped).")
  var file: String

  @Option(help: "Seconds of audio each session sends (0.1 to 86400).")
  var seconds = 30.0

  @Option(help: "Bearer token for the handshake.")
  var token: String?

  @Option(help: "Report this process's CPU use over the run (from /proc/PID/stat).")
  var serverPid: Int32?

  @Flag(help: "Reopen a session the server closed with a code other than 1000 (fresh state).")
  var reconnect = false

  @Option(
    help:
      "frames (per-frame outputs; every frame's latency measured) or events (the protocol's default: frames counted from stats; each event's latency from the last sample of the frame that decided it, learnt by a calibration session first)."
  )
  var outputs = "frames"

  @Option(help: "Also write the summary JSON here.")
  var json: String?

  @Option(help: "Connections being set up at once (1 to 10000).")
  var connectingAtOnce = 64

  /// Runs with one-line errors, as `streamrnn` reports.
  static func main() { runCommandLine(self) }

  func validate() throws {
    guard (1...100_000).contains(streams) else { throw ValidationError("--streams must be 1 to 100000") }
    guard seconds.isFinite, seconds >= 0.1, seconds <= 86_400 else {
      throw ValidationError("--seconds must be 0.1 to 86400")
    }
    guard outputs == "frames" || outputs == "events" else {
      throw ValidationError("--outputs must be frames or events")
    }
    guard (1...10_000).contains(connectingAtOnce) else {
      throw ValidationError("--connecting-at-once must be 1 to 10000")
    }
    _ = try endpoint()
  }

  /// `ws://HOST:PORT/PATH` → its parts (PORT defaults to 80, PATH to `/`).
  func endpoint() throws -> (host: String, port: Int, path: String) {
    guard url.hasPrefix("ws://") else { throw ValidationError("the URL must start with ws:// (no TLS here)") }
    let rest = url.dropFirst(5)
    let authority = rest.prefix { $0 != "/" }
    let path = rest.dropFirst(authority.count)
    var host = Substring(authority)
    var port = 80
    if let colon = authority.lastIndex(of: ":") {
      guard let value = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(value) else {
        throw ValidationError("the URL's port must be 1 to 65535")
      }
      port = value
      host = authority[..<colon]
    }
    guard !host.isEmpty else { throw ValidationError("the URL has no host") }
    return (String(host), port, path.isEmpty ? "/" : String(path))
  }

  func run() throws {
    let reader = try AudioFileReader(path: file)
    guard reader.channelCount == 1 else { throw ValidationError("--file must be mono") }
    guard reader.frameCount >= reader.sampleRate / 50 else {
      throw ValidationError("--file is shorter than 20 ms")
    }
    var floats = [Float](repeating: 0, count: reader.frameCount)
    let count = try floats.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
    let pcm = floats.prefix(count).map { Int16(max(-32768, min(32767, ($0 * 32768).rounded()))) }
    let (host, port, path) = try endpoint()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }
    let settings = LoadRun.Settings(
      host: host, port: port, path: path, token: token, streams: streams, seconds: seconds,
      reconnect: reconnect,
      outputs: outputs, connectingAtOnce: connectingAtOnce)
    let serverBefore = serverPid.flatMap(processCPUSeconds)
    let ownBefore = processCPUSeconds(getpid())
    let run = LoadRun(settings: settings, group: group, pcm: pcm, sampleRate: reader.sampleRate)
    try run.run()
    let wall = Double(monotonicNow() - run.start) / 1e9
    let totals = try run.loop.submit { run.totals }.wait()
    let summary = describe(totals, wall: wall, serverBefore: serverBefore, ownBefore: ownBefore)
    print(summary)
    if let json {
      guard let handle = fopen(json, "w") else { throw ValidationError("cannot write \(json)") }
      fputs(summary + "\n", handle)
      fclose(handle)
    }
  }

  /// The summary as one JSON object (the keys `Scripts/loadgen.py` wrote, plus `messages_sent`).
  private func describe(_ totals: LoadTotals, wall: Double, serverBefore: Double?, ownBefore: Double?)
    -> String
  {
    func ms(_ nanoseconds: UInt64) -> String {
      totals.latency.count == 0 ? "null" : fixed(Double(nanoseconds) / 1e6, 2)
    }
    let histogram = totals.latency.histogram
    let codes = totals.closeCodes.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
    var fields = [
      "\"streams\":\(streams)", "\"seconds\":\(seconds)", "\"wall_seconds\":\(fixed(wall, 2))",
      "\"frames_expected\":\(totals.expected)", "\"frames_received\":\(totals.received)",
      "\"frames_lost\":\(totals.expected - totals.received)", "\"frames_late_20ms\":\(totals.late)",
      "\"latency_ms\":{\"p50\":\(ms(histogram.valueAtPercentile(50))),\"p99\":\(ms(histogram.valueAtPercentile(99))),\"max\":\(ms(histogram.max))}",
      "\"events\":\(totals.events)", "\"failed_sessions\":\(totals.failed)",
      "\"reconnects\":\(totals.reconnects)",
      "\"close_codes\":{\(codes.joined(separator: ","))}", "\"messages_sent\":\(totals.messagesSent)",
      "\"outputs\":\"\(outputs)\"", "\"latency_of\":\"\(outputs)\"",
      "\"events_unmatched\":\(totals.unmatchedEvents)",
      "\"server_p99_us_max\":\(totals.serverP99Microseconds.map { fixed($0, 1) } ?? "null")",
    ]
    if let ownBefore, let own = processCPUSeconds(getpid()) {
      fields.append("\"client_cpu_cores\":\(fixed((own - ownBefore) / wall, 3))")
    }
    if let serverBefore, let pid = serverPid, let server = processCPUSeconds(pid) {
      fields.append("\"server_cpu_cores\":\(fixed((server - serverBefore) / wall, 3))")
    }
    return "{" + fields.joined(separator: ",") + "}"
  }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
  guard value.isFinite else { return "null" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let rounded = (value * scale).rounded() / scale
  return "\(rounded)"
}

/// utime + stime of a process in seconds, from /proc/PID/stat; nil when unreadable.
func processCPUSeconds(_ pid: Int32) -> Double? {
  guard let handle = fopen("/proc/\(pid)/stat", "r") else { return nil }
  defer { fclose(handle) }
  var buffer = [UInt8](repeating: 0, count: 4096)
  let length = fread(&buffer, 1, buffer.count - 1, handle)
  guard length > 0 else { return nil }
  let line = String(decoding: buffer[..<length], as: UTF8.self)
  guard let close = line.lastIndex(of: ")") else { return nil }
  let fields = line[line.index(after: close)...].split(separator: " ")
  guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
  return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
