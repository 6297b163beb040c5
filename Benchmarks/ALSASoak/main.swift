// A long capture through the project's JACK test PCM (Tests/ALSAKit) with random capture stalls:
// checks that every lost span is accounted for, that audio time and stream time do not drift, and
// that memory stays flat. Prints one row a minute and a summary; exits 1 when a check fails.
//
//   swift run -c release ALSASoak [SECONDS (default 3600)] [SEED (default 1; 0: no stalls)]
//
// Needs jackd2 and libasound2-plugins (make deps). Uses the capture source's package-level stall
// hook, so it lives in this package as a benchmark, not in the product.
import ALSACapture
import BundledModels
import Pipeline
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

let arguments = CommandLine.arguments
let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 3600 : 3600
var seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1

/// SplitMix64: a seeded, reproducible stall schedule.
func nextRandom(_ state: inout UInt64) -> UInt64 {
  state &+= 0x9E37_79B9_7F4A_7C15
  var z = state
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// The resident set size, KiB (/proc/self/statm × page size).
func residentKiB() -> Int {
  guard let file = fopen("/proc/self/statm", "r") else { return -1 }
  defer { fclose(file) }
  var size = 0
  var resident = 0
  guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in
    withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) } } }) == 2 else { return -1 }
  return resident * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

/// A text file's contents ("" when it cannot be read).
func readText(_ path: String) -> String {
  guard let file = fopen(path, "r") else { return "" }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = fread(&buffer, 1, buffer.count, file)
    if count <= 0 { break }
    bytes += buffer[0..<count]
  }
  return String(decoding: bytes, as: UTF8.self)
}

// The kit's PCMs and a JACK server of our own.
let root = String(#filePath.dropLast("/Benchmarks/ALSASoak/main.swift".count))
let kit = root + "/Tests/ALSAKit"
let directory = "/tmp/streamrnn-soak-\(getpid())"
setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:\(kit)/streamrnn-test.conf", 1)
setenv("JACK_DEFAULT_SERVER", "streamrnn-soak-\(getpid())", 1)
setenv("JACK_NO_AUDIO_RESERVATION", "1", 1)
// The device's server runs real-time, as a sound card's would: the soak checks the capture path,
// not whether a loaded machine starves the test device (it did: 27 s of drift in an hour).
setenv("STREAMRNN_JACK_REALTIME", "1", 1)
setenv("STREAMRNN_TEST_DIR", directory, 1)
guard system("bash \(kit)/jack-dummy.sh start") == 0 else {
  print("ALSASoak: the JACK dummy server did not start")
  exit(2)
}
/// Stops the JACK server, then exits (a top-level `defer` never runs before `exit`: the server was
/// left running).
func finish(_ status: Int32) -> Never {
  _ = system("bash \(kit)/jack-dummy.sh stop")
  exit(status)
}

// Stalls: one every 5 to 30 s of audio, each 100 to 800 ms (the device buffers 80 ms).
let periodsPerSecond = 100
var schedule: [Int: Int] = [:]
var period = 5 * periodsPerSecond
// Seed 0: no stalls (the device's own clock against the monotonic clock).
while seed != 0 && period < Int(seconds) * periodsPerSecond {
  schedule[period] = 100 + Int(nextRandom(&seed) % 701)
  period += (5 + Int(nextRandom(&seed) % 26)) * periodsPerSecond
}
let stalls = schedule

/// One row a minute: wall time, audio time + lost time, RSS.
final class Minutes: StreamObserver {
  let start = monotonicNow()
  var next = 60.0
  var rows: [(wall: Double, accounted: Double, xruns: Int, rss: Int)] = []
  func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction { .proceed }
  func idle(frames: Int, counters: StreamCounters, captureToOutput: LatencyRecorder) {
    let wall = Double(monotonicNow() &- start) / 1e9
    guard wall >= next else { return }
    next += 60
    let accounted =
      Double(counters.samples.load(ordering: .relaxed) + counters.lostSamples.load(ordering: .relaxed)) / 16000
    let row = (wall, accounted, counters.xruns.load(ordering: .relaxed), residentKiB())
    rows.append(row)
    print(
      formatted(
        "%6.0f s wall  %9.3f s audio+lost  drift %+.3f s  xruns %4d  RSS %6d KiB", row.0, row.1, row.1 - row.0,
        row.2, row.3))
  }
}

do {
  let vad = try BundledModels.sileroVAD()
  let source = try ALSACaptureSource.open(device: "streamrnn_jack", rate: 16000, periodFrames: 160)
  // The capture thread asks for SCHED_FIFO, as `streamrnn capture` does (a refusal is printed).
  source.stallBeforePeriod = { stalls[$0] ?? 0 }
  let minutes = Minutes()
  var options = StreamOptions()
  options.duration = seconds
  let runner = try StreamRunner(
    model: vad.model, features: vad.features, sink: nil, observers: [SegmentObserver(), minutes],
    options: options)
  let started = monotonicNow()
  let report = try runner.run(source: source)
  for notice in source.notices { print("ALSASoak: \(notice)") }
  let wall = Double(monotonicNow() &- started) / 1e9
  let accounted = report.audioSeconds + report.lostSeconds
  // The JACK test server's own xruns: a cycle in which our client (the ALSA plugin's JACK thread)
  // did not finish loses that period inside the test device, before ALSA sees it (a sound card's
  // DMA has no such loss). jackd logs each; they are counted, at one period (10 ms) each.
  let jackLog = readText(directory + "/jackd.log")
  let jackLost = jackLog.split(separator: "\n").filter {
    $0.contains("JackEngine::XRun") && $0.contains("ALSASoak") && $0.contains("was not finished")
  }.count
  let jackLostSeconds = Double(jackLost) * 160 / 16000
  let stalled = stalls.filter { $0.key < report.frames * 2 }
  let overrunning = stalled.filter { $0.value >= 150 }.count
  let stallSeconds = Double(stalled.values.reduce(0, +)) / 1000
  let steady = minutes.rows.dropFirst().map(\.rss)
  let growth = (steady.max() ?? 0) - (steady.min() ?? 0)
  print(report.table)
  print(
    formatted(
      "stalls %d (%.1f s, %d of 150 ms or more); xruns %d; lost %.3f s; wall %.3f s; audio %.3f s; audio+lost %.3f s; drift %+.3f s; the JACK test server's own lost cycles %d (%.2f s); drift with them %+.3f s; RSS growth after the first minute %d KiB",
      stalled.count, stallSeconds, overrunning, report.xruns, report.lostSeconds, wall, report.audioSeconds,
      accounted, accounted - wall, jackLost, jackLostSeconds, accounted + jackLostSeconds - wall, growth))
  // Checks: every stall long enough overran and was counted; the lost time is what the stalls
  // took (each loses its length, more or less a period); audio + lost (+ the test server's own
  // lost cycles) equals the wall time; flat RSS.
  var failures: [String] = []
  if report.xruns < overrunning { failures.append("\(overrunning) stalls overran but only \(report.xruns) xruns") }
  if abs(accounted + jackLostSeconds - wall) > 0.5 {
    failures.append("audio + lost (+ the test server's own losses) differs from the wall time by \(accounted + jackLostSeconds - wall) s")
  }
  if report.lostSeconds < stallSeconds * 0.8 { failures.append("lost \(report.lostSeconds) s for \(stallSeconds) s of stalls") }
  if growth > 2048 { failures.append("RSS grew by \(growth) KiB") }
  if let error = report.error { failures.append("stopped early: \(error)") }
  print(failures.isEmpty ? "ALSASoak: all checks passed" : "ALSASoak: FAILED: " + failures.joined(separator: "; "))
  finish(failures.isEmpty ? 0 : 1)
} catch {
  print("ALSASoak: \(error)")
  finish(2)
}
