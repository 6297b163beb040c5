import AllocationCounter
import ArgumentParser
import BundledModels
import Features
import FoundationEssentials
import Layers
import ModelIO
import Pipeline
import Recurrent
import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn-bench` (also reached as `streamrnn bench`, which runs this executable): per-step time of recurrent models, per-frame time of the feature extractors,
/// and of the whole frame path (features + step + head activation), on this machine, now.
///
/// Method: each step is timed alone with the monotonic clock (`CLOCK_MONOTONIC`, ns) after
/// warm-up; the clock's own cost (median of back-to-back reads) is subtracted. "median" is the
/// lowest of 5 consecutive block medians, which is robust to other load on a shared machine;
/// p90/p99/max are over all timed steps. Allocations are counted on the benchmark thread during
/// the timed loop, by interposing `malloc` (`AllocationCounter`): that is why the benchmark is an
/// executable of its own and `streamrnn` keeps the system allocator untouched.
@main
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "streamrnn bench",
    abstract: "Time one recurrent step (and feature frames) on this machine.",
    discussion: """
      With no --model, runs the zoo. Prints one line per model: median, p90, p99, max µs per step, \
      steps/s, x real-time at a 10 ms hop, allocations per step.
      """)

  @Flag(
    help:
      "Run the five zoo models (seeded random weights): \(ZooModel.all.map(\.name).joined(separator: ", ")).")
  var zoo = false

  @Option(help: "A model file to time (repeatable).")
  var model: [String] = []

  @Option(help: "Timed steps per model.")
  var steps = 20_000

  @Option(help: "Untimed warm-up steps per model.")
  var warmup = 2_000

  @Option(help: "Also write the results as JSON to this file.")
  var json: String?

  @Flag(help: "Skip the feature-extractor and whole-frame measurements.")
  var noFeatures = false

  @Option(
    help: "Weight storage: f32 (exact, default) or f16 (half the bytes per step; weights rounded to float16)."
  )
  var weights: WeightStorage = .float32

  @Option(
    help:
      "Multi-stream mode: N sessions of one engine fed at real-time pace from the bundled recording (1 to 1048576)."
  )
  var streams: Int?

  @Option(help: "Worker threads for --streams (default: one per core).")
  var threads: Int?

  @Option(help: "Seconds of audio per session for --streams (0.5 to 3600; default 10).")
  var seconds: Double = 10

  @Flag(
    help:
      "With --streams: find the most sessions with p99 added latency ≤ 5 ms and no drop (starting from N; a trial that misses only the p99 runs once more), printed as real-time streams per core."
  )
  var findMax = false

  @Flag(
    help:
      "With --streams: no pacing: one worker steps the N sessions on the calling thread as fast as it goes, one hop per session per round; prints its nanoseconds per frame (the engine's CPU-bound ceiling)."
  )
  var unpaced = false

  @Option(help: "With --streams: frames a worker steps together at most (1 to 256; 1: one by one).")
  var maxBatch = 32

  @Option(
    name: .customLong("poll-us"),
    help:
      "With --streams: workers pass over their ready sessions once per this many microseconds (100 to 100000; 0: every push wakes its worker at once)."
  )
  var pollMicroseconds = 1000

  @Option(
    help:
      "Batch mode: N streams of each model stepped together (batched products) beside one by one, per stream-step (1 to 256)."
  )
  var batch: Int?

  func validate() throws {
    guard (1...256).contains(maxBatch) else {
      throw ValidationError("--max-batch \(maxBatch) is out of range: allowed 1 to 256")
    }
    guard pollMicroseconds == 0 || (100...100_000).contains(pollMicroseconds) else {
      throw ValidationError("--poll-us \(pollMicroseconds) is out of range: allowed 0, or 100 to 100000")
    }
    if unpaced && (streams == nil || findMax) {
      throw ValidationError("--unpaced goes with --streams N, without --find-max")
    }
    if let batch, !(1...256).contains(batch) {
      throw ValidationError("--batch \(batch) is out of range: allowed 1 to 256")
    }
    if let streams, !(1...1_048_576).contains(streams) {
      throw ValidationError("--streams \(streams) is out of range: allowed 1 to 1048576")
    }
    if let threads, !(1...256).contains(threads) {
      throw ValidationError("--threads \(threads) is out of range: allowed 1 to 256")
    }
    guard seconds.isFinite, (0.5...3600).contains(seconds) else {
      throw ValidationError("--seconds \(seconds) is out of range: allowed 0.5 to 3600")
    }
    if findMax && streams == nil {
      throw ValidationError("--find-max needs --streams N (where the search starts)")
    }
    guard steps >= 100 else { throw ValidationError("--steps must be at least 100") }
    guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
  }

  func run() throws {
    if let streams { return try runStreams(streams) }
    var models: [(String, RecurrentModel)] = []
    var chains: [(String, LayerChain)] = []
    if zoo || model.isEmpty { models += ZooModel.all.map { ($0.name, $0.make(weightStorage: weights)) } }
    for path in model {
      let file = try SafeTensorsFile(path: path)
      if file.metadata["graph"] != nil {
        // A layer graph: timed per input frame through the whole chain.
        let chain = try ModelLoader.loadChain(file: file, path: path, weightStorage: weights).chain
        chains.append((String(path.split(separator: "/").last ?? Substring(path)), chain))
        continue
      }
      let loaded = try ModelLoader.model(from: file, path: path, weightStorage: weights)
      if loaded.isBidirectional {
        throw ValidationError("\(path): bidirectional models have no single step to time")
      }
      models.append((String(path.split(separator: "/").last ?? Substring(path)), loaded))
    }
    let clockCost = Timer.clockCost()
    print(machineLine())
    print(kernelLine())
    print(
      formatted(
        "clock: CLOCK_MONOTONIC, %.0f ns per read subtracted; median = lowest of 5 block medians", clockCost))
    if let batch {
      print("batch of \(batch) streams: ns per stream-step, best of 7 alternating blocks")
      var rows: [JSONValue] = []
      for (name, recurrent) in models {
        let rounds = max(10, steps / batch)
        let result = BatchBench(model: recurrent, streams: batch, rounds: rounds).run()
        let label = name + String(repeating: " ", count: max(0, 16 - name.count))
        print(
          label
            + formatted(
              "one by one %8.1f ns  batched %8.1f ns  (%.2fx)  allocations %d", result.oneByOne,
              result.batched,
              result.oneByOne / result.batched, result.allocations))
        rows.append(
          .object([
            "name": .string(name), "batch": .number(Double(batch)), "one_by_one_ns": .number(result.oneByOne),
            "batched_ns": .number(result.batched), "allocations": .number(Double(result.allocations)),
          ]))
      }
      if let json {
        let document = JSONValue.object([
          "batch": .array(rows), "machine": .string(machineLine()), "weights": .string(weights.rawValue),
        ])
        try NpyArray.writeBytes(document.encoded(), to: json)
      }
      return
    }
    var results: [BenchResult] = []
    for (name, recurrent) in models {
      var timed = TimedRecurrent(model: recurrent, state: recurrent.makeState())
      let result = benchStep(name: name, model: &timed, clockCost: clockCost)
      print(result.line(unit: "step"))
      results.append(result)
    }
    for (name, chain) in chains {
      var timed = TimedChain(chain: chain, state: chain.makeState())
      let result = benchStep(name: name, model: &timed, clockCost: clockCost)
      print(result.line(unit: "frame"))
      results.append(result)
    }
    var featureResults: [BenchResult] = []
    if !noFeatures {
      for (name, extractor) in try featureExtractors() {
        let result = benchFeatures(name: name, extractor: extractor, model: nil, clockCost: clockCost)
        print(result.line(unit: "frame"))
        featureResults.append(result)
      }
      // The bundled VAD: one 32 ms chunk through the learned frontend, the LSTM and the head.
      if let vad = try? BundledModels.sileroVAD() {
        let frontend = vad.features
        let result = benchFeatures(
          name: "silero-vad chunk", extractor: try frontend.makeExtractor(), model: vad.model,
          clockCost: clockCost,
          frameMicroseconds: 1e6 * Double(frontend.hopLength) / Double(frontend.sampleRate))
        print(result.line(unit: "chunk"))
        featureResults.append(result)
      }
      if let (name, recurrent) = models.first(where: { $0.1.inputSize == 40 }) {
        let result = benchFeatures(
          name: "logmel+\(name)", extractor: try LogMelExtractor(configuration: LogMelConfiguration()),
          model: recurrent, clockCost: clockCost)
        print(result.line(unit: "frame"))
        featureResults.append(result)
      }
    }
    if let json {
      let document = JSONValue.object([
        "results": .array(results.map(\.json)), "features": .array(featureResults.map(\.json)),
        "machine": .string(machineLine()), "kernel": .string(RecurrentKernel.preferred.rawValue),
        "load_average": .array(loadAverage().map(JSONValue.number)),
        "clock_cost_ns": .number(clockCost), "weights": .string(weights.rawValue),
      ])
      try NpyArray.writeBytes(document.encoded(), to: json)
    }
  }

  private func featureExtractors() throws -> [(String, any FeatureExtractor)] {
    [
      ("logmel40", try LogMelExtractor(configuration: LogMelConfiguration())),
      ("fbank40", try FbankExtractor(configuration: FbankConfiguration())),
    ]
  }

  /// Times `steps` single steps after `warmup` untimed ones.
  private func benchStep<Model: TimedModel>(name: String, model: inout Model, clockCost: Double)
    -> BenchResult
  {
    var generator = SplitMix64(seed: 7)
    let frames = (0..<(64 * model.inputSize)).map { _ in generator.nextFloat(in: -1...1) }
    var output = [Float](repeating: 0, count: model.outputSize)
    var durations = [UInt64](repeating: 0, count: steps)
    var bestBlockMean = Double.infinity
    let allocations = frames.withUnsafeBufferPointer { frames in
      output.withUnsafeMutableBufferPointer { output in
        durations.withUnsafeMutableBufferPointer { durations in
          func frame(_ index: Int) -> UnsafeBufferPointer<Float> {
            let start = (index & 63) * model.inputSize
            return UnsafeBufferPointer(rebasing: frames[start..<(start + model.inputSize)])
          }
          for index in 0..<warmup {
            model.step(frame(index), output)
          }
          allocation_counter_start()
          for index in 0..<durations.count {
            let begin = Timer.now()
            model.step(frame(index), output)
            durations[index] = Timer.now() &- begin
          }
          let allocations = allocation_counter_stop()
          // The limit tool's method, for comparison: 5 blocks of back-to-back steps, each timed
          // as a whole (no clock read between steps), best block mean.
          let blockSize = durations.count / 5
          for block in 0..<5 {
            let begin = Timer.now()
            for index in (block * blockSize)..<((block + 1) * blockSize) {
              model.step(frame(index), output)
            }
            bestBlockMean = min(bestBlockMean, Double(Timer.now() &- begin) / Double(blockSize))
          }
          return allocations
        }
      }
    }
    var result = BenchResult(name: name, durations: durations, clockCost: clockCost, allocations: allocations)
    result.blockMeanMicroseconds = bestBlockMean / 1000
    return result
  }

  /// Times one hop of samples through `extractor` (and `model`, when given): the cost of a frame.
  private func benchFeatures(
    name: String, extractor: any FeatureExtractor, model: RecurrentModel?, clockCost: Double,
    frameMicroseconds: Double = 10_000
  ) -> BenchResult {
    let hop = extractor.hopLength
    var generator = SplitMix64(seed: 11)
    let samples = (0..<(hop * 128)).map { _ in generator.nextFloat(in: -0.5...0.5) }
    var state = model?.makeState()
    var output = [Float](repeating: 0, count: model?.outputSize ?? 1)
    var durations = [UInt64](repeating: 0, count: steps)
    var sink: Float = 0
    let allocations = samples.withUnsafeBufferPointer { samples in
      output.withUnsafeMutableBufferPointer { output in
        durations.withUnsafeMutableBufferPointer { durations in
          func block(_ index: Int) -> UnsafeBufferPointer<Float> {
            let start = (index & 127) * hop
            return UnsafeBufferPointer(rebasing: samples[start..<(start + hop)])
          }
          // The frame path: features, then (optionally) the step and head activation.
          func onFrame(_ frame: UnsafeBufferPointer<Float>) {
            if let model, state != nil {
              model.step(frame, state: &state!, output: output)
              model.applyHeadActivation(output)
              sink += output[0]
            } else {
              sink += frame[0]
            }
          }
          // Warm-up through the same path (first calls may set up runtime metadata), which also
          // fills the first window so every timed push completes exactly one frame.
          var index = 0
          var framesSeen = 0
          while framesSeen < 4 + warmup / 10 {
            extractor.push(block(index)) { frame in
              onFrame(frame)
              framesSeen += 1
            }
            index += 1
          }
          allocation_counter_start()
          for timed in 0..<durations.count {
            let begin = Timer.now()
            extractor.push(block(index &+ timed), emit: onFrame)
            durations[timed] = Timer.now() &- begin
          }
          return allocation_counter_stop()
        }
      }
    }
    _ = sink
    return BenchResult(
      name: name, durations: durations, clockCost: clockCost, allocations: allocations,
      frameMicroseconds: frameMicroseconds)
  }

  /// `--streams N`: the engine at real-time pace (``StreamsBench``).
  private func runStreams(_ streams: Int) throws {
    let chain: LayerChain
    let configuration: FeatureConfiguration
    if let path = model.first {
      let loaded = try ModelLoader.loadChain(path: path, weightStorage: weights)
      guard let features = loaded.features else {
        throw ValidationError("\(path): carries no features metadata, which --streams needs")
      }
      (chain, configuration) = (loaded.chain, features)
    } else {
      let vad = try BundledModels.sileroVAD(weightStorage: weights)
      chain = try LayerChain(
        layers: [.recurrent(vad.model)], headActivation: vad.model.head?.activation ?? .none,
        labels: vad.model.head?.labels, kernel: vad.model.kernel)
      configuration = vad.features
    }
    let threadCount = threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let bench = StreamsBench(
      chain: chain, features: configuration,
      audio: try BundledModels.demoSpeech(sampleRate: configuration.sampleRate),
      threads: threadCount, queueSamples: 4096, maxBatch: maxBatch,
      pollMicroseconds: pollMicroseconds == 0 ? nil : pollMicroseconds)
    print(machineLine())
    print(
      "model: \(model.first ?? "bundled Silero VAD"), \(configuration.hopLength)-sample hop at \(configuration.sampleRate) Hz"
    )
    var fields: [String: JSONValue] = [
      "machine": .string(machineLine()), "kernel": .string(RecurrentKernel.preferred.rawValue),
      "load_average": .array(loadAverage().map(JSONValue.number)),
      "model": .string(model.first ?? "silero_vad"), "threads": .number(Double(threadCount)),
      "poll_us": .number(Double(pollMicroseconds)),
    ]
    if unpaced {
      let (nanoseconds, frames) = try bench.unpaced(sessions: streams, seconds: seconds)
      let hopSeconds = Double(configuration.hopLength) / Double(configuration.sampleRate)
      let ceiling = hopSeconds * 1e9 / nanoseconds
      print(
        formatted(
          "%d sessions unpaced, one worker on this thread: %.0f ns per frame over %d frames (%.0f frames per second; at most %.0f real-time streams per core counting the worker alone)",
          streams, nanoseconds, frames, 1e9 / nanoseconds, ceiling))
      fields["unpaced"] = .object([
        "sessions": .number(Double(streams)), "nanoseconds_per_frame": .number(nanoseconds),
        "frames": .number(Double(frames)), "worker_ceiling_streams": .number(ceiling),
      ])
    } else if findMax {
      let (best, trials) = try bench.findMax(seconds: seconds, start: streams)
      let perCore = Double(best) / Double(threadCount)
      print(
        formatted(
          "real-time streams per core: %.0f (%d sessions on %d thread(s))", perCore, best, threadCount))
      fields["streams_per_core"] = .number(perCore)
      fields["max_sessions"] = .number(Double(best))
      fields["trials"] = .array(trials.map(\.json))
    } else {
      let result = try bench.run(sessions: streams, seconds: seconds)
      print(result.line)
      fields["result"] = result.json
    }
    if let json { try NpyArray.writeBytes(JSONValue.object(fields).encoded(), to: json) }
  }

  func machineLine() -> String {
    let load = loadAverage().map { formatted("%.2f", $0) }.joined(separator: " ")
    return "machine: \(machineDescription()), load average \(load)"
  }

  /// The kernel the step runs on and how it was chosen: the line `bench` prints after the machine.
  func kernelLine() -> String {
    let kernel = RecurrentKernel.preferred
    let how =
      environmentVariable("STREAMRNN_KERNEL") == kernel.rawValue
      ? "set by STREAMRNN_KERNEL" : "the fastest this CPU runs"
    return
      "kernel: \(kernel.rawValue) (\(how); available: \(RecurrentKernel.available.map(\.rawValue).joined(separator: ", "))); "
      + "GRU layers of at most \(kernel.laneCount) units run as one fused call, weights from 256 KiB up on 2 MiB pages, read in alternating order"
  }

  private func environmentVariable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

  /// A small text file such as /proc/loadavg, nil if unreadable.
  private func textFile(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  func loadAverage() -> [Double] {
    guard let text = textFile("/proc/loadavg") else { return [] }
    return text.split(separator: " ").prefix(3).compactMap { Double($0) }
  }
}

/// Timings of one benchmark, summarised.
struct BenchResult {
  let name: String
  let medianMicroseconds: Double
  let p90Microseconds: Double
  let p99Microseconds: Double
  let maxMicroseconds: Double
  let allocationsPerStep: Double
  /// Audio per step or frame, µs (for x real-time).
  let frameMicroseconds: Double
  /// Steps only: the best of 5 block means of back-to-back steps (no clock read between them), the
  /// method of ../shared/bench's limit tool; nil for feature timings.
  var blockMeanMicroseconds: Double?

  init(
    name: String, durations: [UInt64], clockCost: Double, allocations: UInt64,
    frameMicroseconds: Double = 10_000
  ) {
    self.name = name
    self.frameMicroseconds = frameMicroseconds
    let corrected = durations.map { max(0, Double($0) - clockCost) }
    // Lowest of 5 consecutive block medians.
    let blockSize = corrected.count / 5
    medianMicroseconds =
      (0..<5).map { block in
        let sorted = corrected[(block * blockSize)..<((block + 1) * blockSize)].sorted()
        return sorted[sorted.count / 2]
      }.min()! / 1000
    let sorted = corrected.sorted()
    func percentile(_ p: Double) -> Double {
      sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] / 1000
    }
    p90Microseconds = percentile(0.90)
    p99Microseconds = percentile(0.99)
    maxMicroseconds = sorted.last! / 1000
    allocationsPerStep = Double(allocations) / Double(durations.count)
  }

  func line(unit: String) -> String {
    padded(name, to: 22)
      + formatted(
        " median %8.3f µs  p90 %8.3f  p99 %8.3f  max %9.3f  ", medianMicroseconds, p90Microseconds,
        p99Microseconds, maxMicroseconds)
      + "\(unit)s/s"
      + formatted(
        " %10.0f  x real-time %8.0f  ", 1e6 / medianMicroseconds,
        frameMicroseconds / medianMicroseconds)
      + "allocs/\(unit)" + formatted(" %g", allocationsPerStep)
  }

  var json: JSONValue {
    .object([
      "model": .string(name), "median_us": .number(medianMicroseconds), "p90_us": .number(p90Microseconds),
      "p99_us": .number(p99Microseconds), "max_us": .number(maxMicroseconds),
      "allocs_per_step": .number(allocationsPerStep), "steps_per_second": .number(1e6 / medianMicroseconds),
      "x_real_time": .number(frameMicroseconds / medianMicroseconds),
      "block_mean_us": blockMeanMicroseconds.map(JSONValue.number) ?? .null,
    ])
  }
}

/// Timing helpers over ``monotonicNow()`` (StreamCore's clock, inlined here).
enum Timer {
  @inline(__always)
  static func now() -> UInt64 { monotonicNow() }

  /// Median cost of one clock read, ns, from back-to-back reads.
  static func clockCost() -> Double {
    var samples = [UInt64](repeating: 0, count: 10_001)
    for index in samples.indices {
      let begin = now()
      samples[index] = now() &- begin
    }
    return Double(samples.sorted()[samples.count / 2])
  }
}

/// A small, seeded generator (SplitMix64) so zoo weights are the same in every run.
struct SplitMix64 {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func nextFloat(in range: ClosedRange<Float>) -> Float {
    range.lowerBound + (range.upperBound - range.lowerBound) * Float(next() >> 40) / Float(1 << 24)
  }
}

/// The benchmark zoo of ../shared/bench (PyTorch-style uniform(±1/√H) random weights, seeded).
struct ZooModel {
  let name: String
  let kind: RecurrentKind
  let input: Int
  let hidden: Int
  let layers: Int
  let classes: Int

  static let all = [
    ZooModel(name: "gru2x64+head", kind: .gru, input: 40, hidden: 64, layers: 2, classes: 4),
    ZooModel(name: "lstm2x64+head", kind: .lstm, input: 40, hidden: 64, layers: 2, classes: 4),
    ZooModel(name: "gru1x256", kind: .gru, input: 40, hidden: 256, layers: 1, classes: 0),
    ZooModel(name: "lstm1x256", kind: .lstm, input: 40, hidden: 256, layers: 1, classes: 0),
    ZooModel(name: "gru1x16", kind: .gru, input: 16, hidden: 16, layers: 1, classes: 0),
  ]

  func make(weightStorage: WeightStorage = .float32) -> RecurrentModel {
    var generator = SplitMix64(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
    let bound = 1 / Float(hidden).squareRoot()
    func tensor(_ shape: [Int]) -> FloatTensor {
      FloatTensor(
        shape: shape, values: (0..<shape.reduce(1, *)).map { _ in generator.nextFloat(in: -bound...bound) })
    }
    let rows = kind.gateCount * hidden
    var dictionary: [String: FloatTensor] = [:]
    for layer in 0..<layers {
      dictionary["weight_ih_l\(layer)"] = tensor([rows, layer == 0 ? input : hidden])
      dictionary["weight_hh_l\(layer)"] = tensor([rows, hidden])
      dictionary["bias_ih_l\(layer)"] = tensor([rows])
      dictionary["bias_hh_l\(layer)"] = tensor([rows])
    }
    if classes > 0 {
      dictionary["head.weight"] = tensor([classes, hidden])
      dictionary["head.bias"] = tensor([classes])
    }
    // The zoo is valid by construction; a failure here is a bug in this table.
    return try! RecurrentModel(
      kind: kind, stateDict: dictionary, headActivation: classes > 0 ? .softmax : .none,
      weightStorage: weightStorage)
  }
}

extension WeightStorage: ExpressibleByArgument {}

/// What `streamrnn-bench` times: one frame in, its outputs (after the output activation) out.
/// Generic callers are specialised, so the protocol costs nothing per step.
protocol TimedModel {
  var inputSize: Int { get }
  var outputSize: Int { get }
  mutating func step(_ frame: UnsafeBufferPointer<Float>, _ output: UnsafeMutableBufferPointer<Float>)
}

/// A recurrent stack with its head: `step` + `applyHeadActivation`.
struct TimedRecurrent: TimedModel {
  let model: RecurrentModel
  var state: RecurrentState
  var inputSize: Int { model.inputSize }
  var outputSize: Int { model.outputSize }

  @inline(__always)
  mutating func step(_ frame: UnsafeBufferPointer<Float>, _ output: UnsafeMutableBufferPointer<Float>) {
    model.step(frame, state: &state, output: output)
    if model.head != nil { model.applyHeadActivation(output) }
  }
}

/// A layer chain: every layer, then the output activation.
struct TimedChain: TimedModel {
  let chain: LayerChain
  let state: LayerChainState
  var inputSize: Int { chain.inputSize }
  var outputSize: Int { chain.outputSize }

  @inline(__always)
  mutating func step(_ frame: UnsafeBufferPointer<Float>, _ output: UnsafeMutableBufferPointer<Float>) {
    if chain.step(frame, state: state, output: output) { chain.applyHeadActivation(output) }
  }
}
