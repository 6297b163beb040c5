import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A live one-screen meter on a terminal: the input level (the loudest block's RMS since the last
/// screen), one probability bar per output (the
/// most probable ones for a many-class model), each output's on/off state with how long it has
/// lasted (SPEECH / silence for the speech output), and the stream's frames, drops, xruns and
/// capture-to-output p99.
///
/// Threads and real-time contract: ``tap(_:)`` runs on the source thread and only stores the
/// block's level in an atomic; ``observe(_:emit:)`` runs per frame on the consumer thread and
/// copies the outputs into buffers allocated at ``begin(_:)`` (no allocation, lock or I/O); the
/// screen is drawn from ``idle(frames:counters:captureToOutput:)`` (the ring is empty, the step is
/// not waiting), at most `refreshesPerSecond` times a second, and erased at the end.
public final class LiveMeter: StreamObserver, AudioTap {
  let screen: TerminalStatusLine
  let parameters: EventParameters
  let speechLabel: String
  let maxLabels: Int
  let interval: UInt64
  /// The loudest block's RMS and the largest sample since the last screen, as Float bits
  /// (non-negative floats order as their bit patterns do; source thread → consumer thread).
  private let levelBits = Atomic<UInt32>(0)
  private let peakBits = Atomic<UInt32>(0)
  private var names: [String] = []
  /// `[outputCount]` the latest outputs, their on state, since when (seconds), and thresholds.
  private var current: [Float] = []
  private var active: [Bool] = []
  private var since: [Double] = []
  private var on: [Float] = []
  private var off: [Float] = []
  private var speechIndex: Int?
  private var now = 0.0
  private var secondsPerFrame = 0.0
  private var lastDraw: UInt64 = 0

  /// A meter drawing on `screen`. Each output is "on" from `parameters`' threshold of its label
  /// until it falls below its off threshold; the output labelled `speechLabel` (or the only one)
  /// reads SPEECH / silence. At most `maxLabels` bars (1 to 32).
  public init(
    screen: TerminalStatusLine, parameters: EventParameters = EventParameters(),
    speechLabel: String = "speech",
    maxLabels: Int = 6, refreshesPerSecond: Double = 20
  ) {
    self.screen = screen
    self.parameters = parameters
    self.speechLabel = speechLabel
    self.maxLabels = min(max(maxLabels, 1), 32)
    interval = UInt64(1e9 / min(max(refreshesPerSecond, 1), 100))
  }

  /// Allocates the per-output buffers.
  public func begin(_ stream: StreamDescription) throws {
    names = outputNames(stream)
    current = [Float](repeating: 0, count: names.count)
    active = [Bool](repeating: false, count: names.count)
    since = [Double](repeating: 0, count: names.count)
    on = names.map { parameters.thresholds(for: $0).on }
    off = names.map { parameters.thresholds(for: $0).off }
    speechIndex = names.firstIndex(of: speechLabel) ?? (names.count == 1 ? 0 : nil)
    secondsPerFrame = stream.secondsPerFrame
    lastDraw = 0
  }

  /// The block's level. Source thread; no allocation.
  public func tap(_ samples: UnsafeBufferPointer<Float>) {
    var energy: Float = 0
    var peak: Float = 0
    for sample in samples {
      energy += sample * sample
      peak = max(peak, abs(sample))
    }
    let rms = samples.isEmpty ? 0 : (energy / Float(samples.count)).squareRoot()
    levelBits.max(rms.bitPattern, ordering: .relaxed)
    peakBits.max(peak.bitPattern, ordering: .relaxed)
  }

  /// Keeps the outputs and each output's on/off state.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    for index in 0..<min(current.count, record.outputs.count) {
      let value = record.outputs[index]
      current[index] = value
      let now = nextActive(active[index], value, on: on[index], off: off[index])
      if now != active[index] {
        active[index] = now
        since[index] = record.time
      }
    }
    now = record.time + secondsPerFrame
    return .proceed
  }

  /// Redraws when 1/refreshesPerSecond has passed.
  public func idle(frames: Int, counters: StreamCounters, captureToOutput: LatencyRecorder) {
    let clock = monotonicNow()
    guard clock &- lastDraw >= interval else { return }
    lastDraw = clock
    screen.show(
      lines: lines(
        frames: frames, dropped: counters.dropped.load(ordering: .relaxed),
        xruns: counters.xruns.load(ordering: .relaxed), p99Milliseconds: captureToOutput.summary.p99 / 1000))
  }

  /// Erases the screen.
  public func end(totalSamples: Int, emit: (StreamEvent) -> Void) { screen.clear() }

  /// The screen's lines now (for drawing and tests). The input level is the loudest block since
  /// the previous call (steadier than the last block alone, which jumps between syllables).
  public func lines(frames: Int, dropped: Int, xruns: Int, p99Milliseconds: Double) -> [String] {
    let rms = Float(bitPattern: levelBits.exchange(0, ordering: .relaxed))
    let peak = Float(bitPattern: peakBits.exchange(0, ordering: .relaxed))
    let decibels = rms > 0 ? 20 * log10(Double(rms)) : -120
    let width = 30
    var lines = [
      formatted(
        "streamrnn %7.1f s   frames %d   dropped %d   xruns %d   capture-to-output p99 %.2f ms", now, frames,
        dropped, xruns, p99Milliseconds)
    ]
    let nameWidth = min(max(names.map(\.count).max() ?? 5, 5), 16)
    lines.append(
      padded("input", to: nameWidth) + formatted(" %6.1f dB ", decibels) + bar((decibels + 60) / 60, width)
        + (peak >= 0.999 ? "  CLIPPING" : ""))
    var shown = Array(names.indices)
    if shown.count > maxLabels {
      shown = Array(
        shown.sorted { current[$0] > current[$1] || (current[$0] == current[$1] && $0 < $1) }.prefix(
          maxLabels))
    }
    for index in shown {
      let duration = formatted("%.1f s", max(now - since[index], 0))
      let state: String
      if index == speechIndex {
        state = active[index] ? "SPEECH " + duration : "silence " + duration
      } else {
        state = active[index] ? "ON " + duration : ""
      }
      let value = current[index].isFinite ? Double(current[index]) : 0
      lines.append(
        padded(String(names[index].prefix(16)), to: nameWidth) + formatted(" %6.3f    ", value)
          + bar(value, width) + "  "
          + state)
    }
    if names.count > shown.count { lines.append("(\(names.count - shown.count) more outputs below these)") }
    return lines
  }

  /// `fraction` (0…1) of `width` cells as a bar.
  private func bar(_ fraction: Double, _ width: Int) -> String {
    let filled = fraction.isFinite ? min(max(Int((fraction * Double(width)).rounded()), 0), width) : 0
    return String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
  }
}

/// Two audio taps as one: the first sees each block, then the second.
public final class AudioTapPair: AudioTap {
  let first: any AudioTap
  let second: any AudioTap

  /// Both taps.
  public init(_ first: any AudioTap, _ second: any AudioTap) {
    self.first = first
    self.second = second
  }

  /// Hands the block to both.
  public func tap(_ samples: UnsafeBufferPointer<Float>) {
    first.tap(samples)
    second.tap(samples)
  }
}
