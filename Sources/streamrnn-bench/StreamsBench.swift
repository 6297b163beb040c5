import BundledModels
import Engine
import Features
import Layers
import ModelIO
import Pipeline
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn bench --streams N`: N sessions of one ``StreamEngine`` fed at real-time pace from the
/// bundled recording, as live calls would be: session `i` releases one hop of audio every hop's
/// duration, at its own phase (the N phases spread evenly over one hop), and each chunk counts as
/// captured at its deadline, so a late feeder shows up as latency, not hidden. The latency is the
/// engine's delivery time minus that deadline. The feeder releases every chunk that is due when it
/// wakes, and wakes at most every 500 µs (``feederGranule``); nothing is released early.
struct StreamsBench {
  let chain: LayerChain
  let features: FeatureConfiguration
  let audio: [Float]
  let threads: Int
  /// Samples per session's input queue (the bench keeps it small: 4,096 floats, 256 ms at 16 kHz).
  let queueSamples: Int
  /// ``EngineOptions/maxBatch``.
  let maxBatch: Int
  /// ``EngineOptions/pollMicroseconds``.
  let pollMicroseconds: Int?
  /// The feeder's shortest sleep, nanoseconds (500 µs): each wake-up of the feeder is a context switch on the worker's core; at 1,200 GRU sessions 100 µs cost about 15 % more CPU than 500 µs, and a chunk released up to 0.5 ms late is counted in its latency anyway.
  static let feederGranule: UInt64 = 500_000

  /// One run's figures.
  struct Result {
    var sessions: Int
    var threads: Int
    var seconds: Double
    var frames: Int
    var droppedSamples: Int
    var latency: LatencySummary
    var cpuSecondsPerAudioSecond: Double
    var bytesPerSession: Double
    var audioSeconds: Double
    var batches: BatchStatistics
    var maxBatch: Int

    /// Real time: p99 added latency ≤ 5 ms, nothing dropped.
    var isRealTime: Bool { droppedSamples == 0 && latency.p99 <= 5000 && frames > 0 }

    var line: String {
      formatted(
        "%6d sessions on %d thread(s): frames %d, dropped samples %d, added latency µs p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f, CPU s per audio s %.5f, %.0f bytes per session besides its audio queue, batch size mean %.1f max %d (%d of %d batches single)",
        sessions, threads, frames, droppedSamples, latency.p50, latency.p90, latency.p99, latency.p999,
        latency.max, cpuSecondsPerAudioSecond, bytesPerSession, batches.meanSize, batches.largest,
        batches.single,
        batches.batches)
    }

    var json: JSONValue {
      .object([
        "sessions": .number(Double(sessions)), "threads": .number(Double(threads)),
        "seconds": .number(seconds),
        "frames": .number(Double(frames)), "dropped_samples": .number(Double(droppedSamples)),
        "latency_us": .object([
          "p50": .number(latency.p50), "p90": .number(latency.p90), "p99": .number(latency.p99),
          "p999": .number(latency.p999), "max": .number(latency.max),
        ]),
        "cpu_seconds_per_audio_second": .number(cpuSecondsPerAudioSecond),
        "bytes_per_session": .number(bytesPerSession),
        "batch_sizes": .object([
          "mean": .number(batches.meanSize), "max": .number(Double(batches.largest)),
          "batches": .number(Double(batches.batches)), "single": .number(Double(batches.single)),
          "limit": .number(Double(maxBatch)),
        ]),
        "real_time": .bool(isRealTime),
      ])
    }
  }

  /// A started engine for `sessions` sessions with this bench's options: ``threads`` worker threads
  /// polling every ``pollMicroseconds``, or (`manual`) one worker the caller steps itself.
  private func startEngine(sessions: Int, manual: Bool) throws -> StreamEngine {
    var options = EngineOptions()
    options.threads = manual ? 1 : threads
    options.maxSessions = sessions
    options.queueSamples = queueSamples
    options.maxBatch = maxBatch
    options.pollMicroseconds = manual ? nil : pollMicroseconds
    options.manualWorkers = manual
    let engine = try StreamEngine(model: chain, features: features, options: options)
    try engine.start()
    return engine
  }

  /// Opens `count` sessions named `bench-i`.
  private func open(_ count: Int, on engine: StreamEngine) throws -> [SessionHandle] {
    var handles: [SessionHandle] = []
    handles.reserveCapacity(count)
    for index in 0..<count { handles.append(try engine.open(id: "bench-\(index)")) }
    return handles
  }

  /// Runs `sessions` sessions for `seconds` of audio each.
  func run(sessions: Int, seconds: Double) throws -> Result {
    let engine = try startEngine(sessions: sessions, manual: false)
    defer { engine.stop() }
    let heapBefore = heapBytes()
    let handles = try open(sessions, on: engine)
    let bytesPerSession = Double(heapBytes() - heapBefore) / Double(sessions) - Double(queueSamples * 4)
    let hop = features.hopLength
    let period = UInt64(Double(hop) * 1e9 / Double(features.sampleRate))
    let chunks = Int(seconds * Double(features.sampleRate)) / hop
    // Each session starts at its own place in the recording.
    let offsets = (0..<sessions).map { ($0 * 7919 * hop) % max(1, audio.count - hop) / hop * hop }
    let cpuBefore = cpuSeconds()
    let start = monotonicNow() &+ 20_000_000
    // The feeder wakes at most once per `feederGranule`: each wake-up releases every chunk whose
    // deadline has come (in deadline order) and sleeps until the next one's, but at least that
    // long — a timer wake-up per chunk would cost more than the chunk (a context switch, and on a
    // virtual machine a timer exit). A chunk released late is latency: it counts from its deadline.
    var chunk = 0
    var index = 0
    try audio.withUnsafeBufferPointer { all in
      while chunk < chunks {
        let now = monotonicNow()
        var deadline = start &+ UInt64(chunk) &* period &+ period &* UInt64(index) / UInt64(sessions)
        while chunk < chunks && deadline <= now {
          var position = (offsets[index] + chunk * hop) % audio.count
          if position + hop > audio.count { position = 0 }
          try engine.push(
            handles[index], UnsafeBufferPointer(rebasing: all[position..<(position + hop)]),
            captureTime: deadline)
          index += 1
          if index == sessions {
            index = 0
            chunk += 1
          }
          deadline = start &+ UInt64(chunk) &* period &+ period &* UInt64(index) / UInt64(sessions)
        }
        if chunk < chunks { sleep(untilMonotonic: max(deadline, now &+ Self.feederGranule)) }
      }
    }
    for handle in handles { try engine.close(handle) }
    for handle in handles { engine.waitUntilClosed(handle) }
    let cpu = cpuSeconds() - cpuBefore
    engine.stop()
    let audioSeconds = Double(chunks * hop * sessions) / Double(features.sampleRate)
    return Result(
      sessions: sessions, threads: threads, seconds: seconds,
      frames: engine.deliveredRecords.load(ordering: .relaxed),
      droppedSamples: engine.droppedSamples.load(ordering: .relaxed), latency: engine.latencySummary,
      cpuSecondsPerAudioSecond: cpu / max(audioSeconds, 1e-9), bytesPerSession: bytesPerSession,
      audioSeconds: audioSeconds, batches: engine.batchStatistics, maxBatch: maxBatch)
  }

  /// The engine's ceiling: `sessions` sessions, each sent one hop at a time for `seconds` of audio,
  /// stepped by one worker on this thread as fast as it goes (no pacing, no worker thread; the
  /// delivery thread drains). Returns the worker's nanoseconds per frame (the passes' time over the
  /// frames, after two warm-up rounds) and the frames counted.
  func unpaced(sessions: Int, seconds: Double) throws -> (nanosecondsPerFrame: Double, frames: Int) {
    let engine = try startEngine(sessions: sessions, manual: true)
    defer { engine.stop() }
    let handles = try open(sessions, on: engine)
    let hop = features.hopLength
    let rounds = max(3, Int(seconds * Double(features.sampleRate)) / hop)
    var total: UInt64 = 0
    try audio.withUnsafeBufferPointer { all in
      for round in 0..<rounds {
        for (index, handle) in handles.enumerated() {
          let position = ((index * 7919 + round) * hop) % (all.count - hop)
          _ = try engine.push(handle, UnsafeBufferPointer(rebasing: all[position..<(position + hop)]))
        }
        let start = monotonicNow()
        while engine.workerPass(0) {}
        if round >= 2 { total &+= monotonicNow() &- start }
      }
    }
    let frames = (rounds - 2) * sessions
    return (Double(total) / Double(frames), frames)
  }

  /// The largest session count that runs in real time (p99 ≤ 5 ms, no drop), by doubling then
  /// bisecting; every trial's line is printed. A trial that drops nothing but misses the p99 is
  /// repeated once, and the count passes if the repeat does.
  func findMax(seconds: Double, start: Int) throws -> (best: Int, trials: [Result]) {
    var trials: [Result] = []
    // A trial that misses only on latency is run once more: on a shared machine one stall of
    // another tenant's can push a 4-second trial's p99 past 5 ms. Drops are never retried: a load
    // that drops is over the limit.
    func realTime(_ count: Int) throws -> Bool {
      for attempt in 0..<2 {
        let result = try run(sessions: count, seconds: seconds)
        print(result.line + (attempt == 1 ? " (repeated)" : ""))
        trials.append(result)
        if result.isRealTime { return true }
        if result.droppedSamples > 0 { return false }
      }
      return false
    }
    var low = 0
    var high = max(1, start)
    while try realTime(high) {
      low = high
      high *= 2
      if high > 1 << 20 { break }
    }
    while high - low > max(1, low / 20) {
      let middle = (low + high) / 2
      if try realTime(middle) { low = middle } else { high = middle }
    }
    return (low, trials)
  }

  /// Resident bytes (/proc/self/statm): every session buffer is written at open, so the growth
  /// over N opens is what N sessions hold.
  private func heapBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
    let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      .split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  /// CPU seconds used by the whole process (workers, delivery, feeder).
  private func cpuSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
  }
}
