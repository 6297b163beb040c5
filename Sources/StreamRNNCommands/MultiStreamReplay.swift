import AudioFile
import Engine
import Features
import FoundationEssentials
import ModelIO
import Pipeline
import Replay
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn replay FILE... --streams N`: N sessions of one ``StreamEngine``, session `i` playing
/// file `i mod count` (each file decoded once), written to `DIR/session-NNN.<format>`. At
/// `--pace max` the feeder retries a full queue (nothing is dropped), so each file equals a single
/// `streamrnn replay` of the same audio; at `--pace realtime` each session releases one hop of
/// audio at each deadline (a full queue drops and counts), starting together or, with `--stagger`,
/// at a random moment of the first second (the whole file is still played).
struct MultiStreamReplay {
  let setup: StreamSetup
  let files: [String]
  let sessions: Int
  let threads: Int?
  let outDir: String?
  let pace: ReplayPace
  let stagger: Bool
  let channel: Int?

  func run() throws {
    let rate = setup.features.sampleRate
    let hop = setup.features.hopLength
    let audio = try files.map {
      try MonoAudioStream(path: $0, outputRate: rate, channel: channel.map { .channel($0) } ?? .mean)
        .readAll()
    }
    var options = EngineOptions()
    if let threads { options.threads = threads }
    options.maxSessions = sessions
    var queue = 8192
    while queue < 8 * hop { queue *= 2 }
    options.queueSamples = queue
    let engine = try StreamEngine(model: setup.model, features: setup.features, options: options)
    if let outDir { try makeDirectory(outDir) }
    let width = max(3, String(sessions - 1).count)
    let output = setup.output
    try engine.start()
    defer { engine.stop() }
    var handles: [SessionHandle] = []
    var deliveries: [SessionDelivery] = []
    for index in 0..<sessions {
      let name =
        "session-" + String(repeating: "0", count: max(0, width - String(index).count)) + String(index)
      var sink: (any FrameSink)?
      if let outDir, !(output.quiet && !setup.segments.emitsEvents) {
        let format = output.quiet ? SinkFormat.jsonl : output.format
        sink = try makeSink(
          format: format, path: "\(outDir)/\(name).\(format.rawValue)", topThreshold: setup.segments.threshold
        )
      }
      let delivery = SessionDelivery(
        observers: try setup.segments.observers(), sink: sink, every: output.every, quiet: output.quiet,
        timings: !output.noTimings)
      deliveries.append(delivery)
      handles.append(try engine.open(id: name, delivery: delivery))
    }
    let started = monotonicNow()
    let control = StreamControl()
    if pace == .max {
      try feedAsFastAsPossible(engine, handles, audio, block: 4 * hop, control: control)
    } else {
      try feedInRealTime(engine, handles, audio, hop: hop, rate: rate, control: control)
    }
    for handle in handles { engine.waitUntilClosed(handle) }
    let wall = Double(monotonicNow() &- started) / 1e9
    let summaries = handles.compactMap { engine.summary($0) }
    engine.stop()
    try report(summaries, engine: engine, wall: wall, rate: rate)
    if let failed = deliveries.first(where: { $0.error != nil }), let error = failed.error {
      throw CommandError(description: "a session's output failed: \(error)")
    }
  }

  /// Round-robin over the sessions, a few hops at a time, retrying full queues; each session is
  /// closed when its file is in.
  private func feedAsFastAsPossible(
    _ engine: StreamEngine, _ handles: [SessionHandle], _ audio: [[Float]], block: Int, control: StreamControl
  ) throws {
    var positions = [Int](repeating: 0, count: handles.count)
    var open = handles.count
    while open > 0 && !control.isStopRequested {
      var progressed = false
      for (index, handle) in handles.enumerated() {
        let samples = audio[index % audio.count]
        guard positions[index] <= samples.count else { continue }
        if positions[index] == samples.count {
          try engine.close(handle)
          positions[index] += 1
          open -= 1
          continue
        }
        let end = min(samples.count, positions[index] + block)
        let result = try samples.withUnsafeBufferPointer {
          try engine.tryPush(handle, UnsafeBufferPointer(rebasing: $0[positions[index]..<end]))
        }
        if result == .pushed {
          positions[index] = end
          progressed = true
        }
      }
      if !progressed { usleep(200) }
    }
    for (index, handle) in handles.enumerated() where positions[index] <= audio[index % audio.count].count {
      try? engine.close(handle)
    }
  }

  /// Each session releases one hop at each deadline (its start, plus the hop's end), in deadline
  /// order (a binary heap).
  private func feedInRealTime(
    _ engine: StreamEngine, _ handles: [SessionHandle], _ audio: [[Float]], hop: Int, rate: Int,
    control: StreamControl
  ) throws {
    let period = Double(hop) / Double(rate) * 1e9
    let start = monotonicNow() &+ 10_000_000
    var random = SystemRandomNumberGenerator()
    let delays = handles.map { _ in stagger ? UInt64.random(in: 0..<1_000_000_000, using: &random) : 0 }
    var chunks = [Int](repeating: 0, count: handles.count)
    func deadline(_ index: Int) -> UInt64 {
      start &+ delays[index] &+ UInt64(Double(chunks[index] + 1) * period)
    }
    var heap = DeadlineHeap()
    for index in handles.indices { heap.insert(deadline(index), index) }
    while let (due, index) = heap.popMin() {
      if control.isStopRequested { break }
      if monotonicNow() < due { sleep(untilMonotonic: due) }
      let samples = audio[index % audio.count]
      let begin = chunks[index] * hop
      let end = min(samples.count, begin + hop)
      if begin < end {
        _ = try samples.withUnsafeBufferPointer {
          try engine.push(handles[index], UnsafeBufferPointer(rebasing: $0[begin..<end]), captureTime: due)
        }
      }
      chunks[index] += 1
      if end >= samples.count {
        try engine.close(handles[index])
      } else {
        heap.insert(deadline(index), index)
      }
    }
    for (index, handle) in handles.enumerated() where chunks[index] * hop < audio[index % audio.count].count {
      try? engine.close(handle)
    }
  }

  private func report(_ summaries: [SessionSummary], engine: StreamEngine, wall: Double, rate: Int) throws {
    let frames = summaries.reduce(0) { $0 + $1.delivered }
    let dropped = summaries.reduce(0) { $0 + $1.droppedSamples }
    let lost = summaries.reduce(0) { $0 + $1.droppedRecords }
    let nonFinite = summaries.reduce(0) { $0 + $1.nonFiniteFrames }
    let audioSeconds = Double(summaries.reduce(0) { $0 + $1.samples }) / Double(rate)
    let latency = engine.latencySummary
    writeToStandardError(
      formatted(
        "sessions %d on %d thread(s), frames %d, dropped samples %d, dropped records %d, audio %.2f s in %.2f s wall (%.0f x real time)\nadded latency (µs): p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
        summaries.count, engine.options.threads, frames, dropped, lost, audioSeconds, wall,
        audioSeconds / max(wall, 1e-9),
        latency.p50, latency.p90, latency.p99, latency.p999, latency.max))
    if nonFinite > 0 {
      writeToStandardError(
        "streamrnn: warning: the model's outputs were NaN or infinite in \(nonFinite) of \(frames) frames (written as null)\n"
      )
    }
    if let path = setup.output.statsJson {
      let json = JSONValue.object([
        "sessions": .number(Double(summaries.count)), "threads": .number(Double(engine.options.threads)),
        "frames": .number(Double(frames)), "dropped_samples": .number(Double(dropped)),
        "dropped_records": .number(Double(lost)), "non_finite_frames": .number(Double(nonFinite)),
        "audio_seconds": .number(audioSeconds), "wall_seconds": .number(wall),
        "latency_us": .object([
          "p50": .number(latency.p50), "p90": .number(latency.p90), "p99": .number(latency.p99),
          "p999": .number(latency.p999), "max": .number(latency.max),
        ]),
      ])
      try NpyArray.writeBytes(json.encoded(), to: path)
    }
  }

  /// `mkdir -p`, one line on failure.
  private func makeDirectory(_ path: String) throws {
    var built = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
      built += "/" + part
      if mkdir(built, 0o755) != 0 && errno != EEXIST {
        throw CommandError(
          description: "\(printable(path)): cannot create the directory (\(String(cString: strerror(errno))))"
        )
      }
    }
  }
}

/// A binary min-heap of (deadline, session) pairs.
struct DeadlineHeap {
  private var items: [(UInt64, Int)] = []

  mutating func insert(_ deadline: UInt64, _ index: Int) {
    items.append((deadline, index))
    var child = items.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard items[child].0 < items[parent].0 else { break }
      items.swapAt(child, parent)
      child = parent
    }
  }

  mutating func popMin() -> (UInt64, Int)? {
    guard !items.isEmpty else { return nil }
    items.swapAt(0, items.count - 1)
    let top = items.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < items.count, items[left].0 < items[smallest].0 { smallest = left }
      if right < items.count, items[right].0 < items[smallest].0 { smallest = right }
      guard smallest != parent else { break }
      items.swapAt(parent, smallest)
      parent = smallest
    }
    return top
  }
}
