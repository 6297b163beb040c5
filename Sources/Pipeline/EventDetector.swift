import StreamCore

/// Parameters of per-label events (``EventDetector``): the usual sound-event post-processing of a
/// classifier's per-frame probabilities.
///
/// Per label, in this order: an optional centred median filter over `medianFrames` frames; a
/// threshold with hysteresis (an event starts at a filtered probability ≥ the label's threshold and
/// goes on until one falls below its off threshold); gaps shorter than `minGapSeconds` between two
/// events are filled (they become one); events shorter than `minEventSeconds` are dropped.
public struct EventParameters: Sendable, Equatable {
  /// The on threshold of every label without one of its own, 0 to 1.
  public var threshold: Float = 0.5
  /// The off threshold of every label without one of its own, 0 to its on threshold;
  /// nil = `max(on − 0.15, 0.01)` (silero-vad's rule for its `neg_threshold`), capped at the on
  /// threshold.
  public var offThreshold: Float?
  /// On thresholds by label.
  public var labelThresholds: [String: Float] = [:]
  /// Off thresholds by label.
  public var labelOffThresholds: [String: Float] = [:]
  /// Width of the centred median filter, frames: odd, 1 (no filter) to 255. It delays every
  /// decision by `(medianFrames − 1) / 2` frames; at both ends of the stream the window repeats
  /// the first (last) frame.
  public var medianFrames = 1
  /// Events shorter than this are dropped, seconds (0 to 3600).
  public var minEventSeconds = 0.0
  /// Gaps shorter than this between two events of a label are filled, seconds (0 to 3600).
  public var minGapSeconds = 0.0
  /// The labels that get events; nil: every output.
  public var labels: [String]?

  /// The defaults: threshold 0.5, off threshold 0.35, no filter, no minimum durations.
  public init() {}

  /// The label's on and off thresholds.
  public func thresholds(for label: String) -> (on: Float, off: Float) {
    let on = labelThresholds[label] ?? threshold
    let off = labelOffThresholds[label] ?? offThreshold ?? max(on - 0.15, 0.01)
    return (on, min(off, on))
  }

  /// Checks every value and every label named against `labels` (the stream's output names).
  /// - Throws: ``StreamError/invalidOption(name:value:allowed:)`` or
  ///   ``StreamError/missingLabel(_:labels:)``, one line.
  public func validate(labels outputNames: [String]) throws(StreamError) {
    func check(_ name: String, _ value: Double, _ range: ClosedRange<Double>, _ allowed: String)
      throws(StreamError)
    {
      guard value.isFinite, range.contains(value) else {
        throw .invalidOption(name: name, value: "\(value)", allowed: allowed)
      }
    }
    try check("event threshold", Double(threshold), 0...1, "0 to 1")
    if let offThreshold { try check("event off threshold", Double(offThreshold), 0...1, "0 to 1") }
    for (label, value) in labelThresholds.sorted(by: { $0.key < $1.key }) {
      try check("event threshold of '\(label)'", Double(value), 0...1, "0 to 1")
    }
    for (label, value) in labelOffThresholds.sorted(by: { $0.key < $1.key }) {
      try check("event off threshold of '\(label)'", Double(value), 0...1, "0 to 1")
    }
    for label in (labels ?? []) + labelThresholds.keys.sorted() + labelOffThresholds.keys.sorted()
    where !outputNames.contains(label) {
      throw .missingLabel(label, labels: outputNames)
    }
    for label in labels ?? outputNames {
      let on = labelThresholds[label] ?? threshold
      if let off = labelOffThresholds[label] ?? offThreshold, off > on {
        throw .invalidOption(
          name: "event off threshold of '\(label)'", value: "\(off)", allowed: "0 to its on threshold \(on)")
      }
    }
    guard (1...255).contains(medianFrames), medianFrames % 2 == 1 else {
      throw .invalidOption(
        name: "median filter width", value: "\(medianFrames)", allowed: "an odd number of frames, 1 to 255")
    }
    try check("minimum event duration", minEventSeconds, 0...3600, "0 to 3600 s")
    try check("minimum gap", minGapSeconds, 0...3600, "0 to 3600 s")
  }

  /// A duration in whole frames of `secondsPerFrame`: the smallest count that is not shorter.
  static func frames(_ seconds: Double, secondsPerFrame: Double) -> Int {
    Int((seconds / secondsPerFrame - 1e-9).rounded(.up).clamped(0, 1e9))
  }
}

extension Double {
  fileprivate func clamped(_ low: Double, _ high: Double) -> Double { Swift.min(Swift.max(self, low), high) }
}

/// The names a stream's outputs go by in events: its labels, or "0", "1", … without labels.
public func outputNames(_ stream: StreamDescription) -> [String] {
  stream.labels ?? (0..<stream.outputCount).map(String.init)
}

/// One label's decisions over its filtered probabilities (see ``EventParameters`` for the rules).
///
/// Decision delays (on top of the median filter's): an onset is announced on the frame that makes
/// the event `minEvent` frames long (on its first frame with no minimum); an offset once the
/// probability has stayed below the off threshold for `minGap` frames (at once with no minimum
/// gap). Times and frame numbers are those of the frames where the event starts and ends.
struct LabelEvents: Sendable {
  let label: Int
  let on: Float
  let off: Float
  let minEvent: Int
  let minGap: Int
  private var active = false
  private var open = false
  private var announced = false
  private var inGap = false
  private var startPosition = 0
  private var startFrame = 0
  private var startTime = 0.0
  private var gapPosition = 0
  private var gapFrame = 0
  private var gapTime = 0.0

  init(label: Int, on: Float, off: Float, minEvent: Int, minGap: Int) {
    self.label = label
    self.on = on
    self.off = off
    self.minEvent = minEvent
    self.minGap = minGap
  }

  /// The filtered probability of the frame at `position` (0-based since the start or the last
  /// ``finish(frame:time:emit:)``), numbered `frame`, starting at `time` seconds.
  mutating func process(
    _ value: Float, position: Int, frame: Int, time: Double, emit: (StreamEvent) -> Void
  ) {
    active = nextActive(active, value, on: on, off: off)
    if active {
      if !open {
        open = true
        announced = false
        (startPosition, startFrame, startTime) = (position, frame, time)
      }
      inGap = false
      if !announced && position + 1 - startPosition >= minEvent {
        announced = true
        emit(.onset(label: label, frame: startFrame, time: startTime))
      }
    } else if open {
      if !inGap {
        inGap = true
        (gapPosition, gapFrame, gapTime) = (position, frame, time)
      }
      if position + 1 - gapPosition >= minGap { close(frame: gapFrame, time: gapTime, emit: emit) }
    }
  }

  /// The end of the stream (or a state reset) before the frame numbered `frame`, starting at
  /// `time`: an open event ends there (or where its gap began); the next frame starts
  /// afresh.
  mutating func finish(frame: Int, time: Double, emit: (StreamEvent) -> Void) {
    if open {
      if inGap {
        close(frame: gapFrame, time: gapTime, emit: emit)
      } else {
        close(frame: frame, time: time, emit: emit)
      }
    }
    active = false
  }

  private mutating func close(frame: Int, time: Double, emit: (StreamEvent) -> Void) {
    if announced { emit(.offset(label: label, frame: frame, time: time, duration: time - startTime)) }
    open = false
    inGap = false
  }
}

/// Per-label onset/offset events from per-frame probabilities, online: a median filter, then
/// ``LabelEvents`` per watched label. Everything is allocated in `init`; ``process(_:frame:time:emit:)``
/// and ``finish(frame:time:emit:)`` allocate nothing (events go to a closure). One thread at a
/// time.
public final class EventDetector {
  /// The watched outputs' indices, in output order.
  public let watched: [Int]
  /// The median filter's width, frames (odd).
  public let medianFrames: Int
  private var trackers: [LabelEvents]
  /// `[medianFrames, watched.count]`: the last `medianFrames` frames' probabilities, a ring by
  /// position.
  private var history: [Float]
  /// `[medianFrames]`: the ring's frame numbers and times.
  private var frames: [Int]
  private var times: [Double]
  /// `[medianFrames]` sorting room for one median.
  private var window: [Float]
  /// Frames seen since the start or the last ``finish(frame:time:emit:)``.
  private var position = 0

  /// A detector for a stream whose outputs are named `names`, with frames `secondsPerFrame` apart.
  /// - Throws: ``StreamError`` for parameters out of range or a label that is not among `names`.
  public init(parameters: EventParameters, names: [String], secondsPerFrame: Double) throws(StreamError) {
    try parameters.validate(labels: names)
    let minEvent = EventParameters.frames(parameters.minEventSeconds, secondsPerFrame: secondsPerFrame)
    let minGap = EventParameters.frames(parameters.minGapSeconds, secondsPerFrame: secondsPerFrame)
    watched = names.indices.filter { parameters.labels?.contains(names[$0]) ?? true }
    trackers = watched.map { index in
      let (on, off) = parameters.thresholds(for: names[index])
      return LabelEvents(label: index, on: on, off: off, minEvent: minEvent, minGap: minGap)
    }
    medianFrames = parameters.medianFrames
    history = [Float](repeating: 0, count: medianFrames * watched.count)
    frames = [Int](repeating: 0, count: medianFrames)
    times = [Double](repeating: 0, count: medianFrames)
    window = [Float](repeating: 0, count: medianFrames)
  }

  /// Frames between a frame's arrival and the decision about it: `(medianFrames − 1) / 2`.
  public var filterDelay: Int { (medianFrames - 1) / 2 }

  /// The next frame's outputs (all of them, `[outputCount]`), numbered `frame`, starting at `time`
  /// seconds. Decides the frame `filterDelay` back.
  public func process(
    _ outputs: UnsafeBufferPointer<Float>, frame: Int, time: Double, emit: (StreamEvent) -> Void
  ) {
    let slot = position % medianFrames
    for column in 0..<watched.count { history[slot * watched.count + column] = outputs[watched[column]] }
    frames[slot] = frame
    times[slot] = time
    let newest = position
    position += 1
    let decided = newest - filterDelay
    if decided >= 0 { decide(decided, newest: newest, emit: emit) }
  }

  /// The end of the stream, or a state reset before the frame numbered `frame` at `time`: decides
  /// the frames still in the filter (the window repeats the last frame), ends open events there,
  /// and starts afresh for the frames after.
  public func finish(frame: Int, time: Double, emit: (StreamEvent) -> Void) {
    let newest = position - 1
    var decided = max(0, newest - filterDelay + 1)
    while decided <= newest {
      decide(decided, newest: newest, emit: emit)
      decided += 1
    }
    for index in 0..<trackers.count { trackers[index].finish(frame: frame, time: time, emit: emit) }
    position = 0
  }

  /// Filters the frame at `position` (its window clamped to the positions 0…`newest`) and feeds
  /// every tracker.
  private func decide(_ decided: Int, newest: Int, emit: (StreamEvent) -> Void) {
    let slot = decided % medianFrames
    let half = filterDelay
    for column in 0..<watched.count {
      let value: Float
      if medianFrames == 1 {
        value = history[slot * watched.count + column]
      } else {
        for offset in 0..<medianFrames {
          let source = min(max(decided - half + offset, 0), newest)
          window[offset] = history[(source % medianFrames) * watched.count + column]
        }
        value = median(count: medianFrames)
      }
      trackers[column].process(value, position: decided, frame: frames[slot], time: times[slot], emit: emit)
    }
  }

  /// The middle of `window[0..<count]` (an odd count), by insertion sort; NaN sorts as the
  /// smallest value (a NaN probability is never "on").
  private func median(count: Int) -> Float {
    for index in 1..<count {
      let value = window[index]
      var place = index
      while place > 0 && isBelow(value, window[place - 1]) {
        window[place] = window[place - 1]
        place -= 1
      }
      window[place] = value
    }
    return window[count / 2]
  }
}

/// Threshold with hysteresis, one frame: an inactive output turns on at a value ≥ `on`, an active
/// one stays on until a value falls below `off` (a NaN keeps the state as it is). The rule of
/// ``LabelEvents``, ``offlineEvents(track:parameters:names:secondsPerFrame:)`` and ``LiveMeter``.
@inline(__always)
func nextActive(_ active: Bool, _ value: Float, on: Float, off: Float) -> Bool {
  active ? !(value < off) : value >= on
}

/// `a < b` with NaN below every number.
private func isBelow(_ a: Float, _ b: Float) -> Bool {
  if a.isNaN { return !b.isNaN }
  if b.isNaN { return false }
  return a < b
}

/// Per-label events over a whole probability track at once, by the rules of ``EventParameters``
/// written as array passes (filter every frame, threshold with hysteresis, fill short gaps, drop
/// short events): the reference the online ``EventDetector`` must equal. `track` is
/// `[frames][outputs]`, rows `secondsPerFrame` apart; an event open at the end ends after the last
/// row. Returns each event as (label index, first row, row after the last), sorted by label then
/// start.
public func offlineEvents(
  track: [[Float]], parameters: EventParameters, names: [String], secondsPerFrame: Double
) throws(StreamError) -> [(label: Int, start: Int, end: Int)] {
  try parameters.validate(labels: names)
  let half = (parameters.medianFrames - 1) / 2
  let minEvent = EventParameters.frames(parameters.minEventSeconds, secondsPerFrame: secondsPerFrame)
  let minGap = EventParameters.frames(parameters.minGapSeconds, secondsPerFrame: secondsPerFrame)
  var result: [(label: Int, start: Int, end: Int)] = []
  for label in names.indices where parameters.labels?.contains(names[label]) ?? true {
    let (on, off) = parameters.thresholds(for: names[label])
    let raw = track.map { $0[label] }
    let filtered = raw.indices.map { row -> Float in
      let window = (row - half...row + half).map { raw[min(max($0, 0), raw.count - 1)] }
      return window.sorted(by: isBelow)[half]
    }
    var runs: [(start: Int, end: Int)] = []
    var active = false
    for (row, value) in filtered.enumerated() {
      let now = nextActive(active, value, on: on, off: off)
      if now && !active { runs.append((row, row + 1)) }
      if now { runs[runs.count - 1].end = row + 1 }
      active = now
    }
    var merged: [(start: Int, end: Int)] = []
    for run in runs {
      if let last = merged.last, run.start - last.end < minGap {
        merged[merged.count - 1].end = run.end
      } else {
        merged.append(run)
      }
    }
    result += merged.filter { $0.end - $0.start >= minEvent }.map { (label, $0.start, $0.end) }
  }
  return result
}

/// Per-label onset/offset events (``EventDetector``) on every watched output, as ``StreamEvent``s.
/// Consumer thread; allocates nothing per frame.
///
/// Frame numbers and times are the records' (`frame`, `time`); an event open when the stream ends
/// (or the state is reset) ends at the frame after the last record.
public final class EventObserver: StreamObserver {
  /// The detector's parameters.
  public let parameters: EventParameters
  private var detector: EventDetector?
  private var lastFrame = -1
  private var lastTime = 0.0
  private var frameStep = 1
  private var secondsPerFrame = 0.0

  /// Events by `parameters` on the outputs it names (all by default).
  public init(parameters: EventParameters = EventParameters()) { self.parameters = parameters }

  /// Events.
  public var emitsEvents: Bool { true }

  /// Checks the parameters against the stream's outputs; allocates the detector.
  public func begin(_ stream: StreamDescription) throws {
    detector = try EventDetector(
      parameters: parameters, names: outputNames(stream), secondsPerFrame: stream.secondsPerFrame)
    secondsPerFrame = stream.secondsPerFrame
    lastFrame = -1
  }

  /// Feeds the record's outputs.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    if lastFrame >= 0 && record.index > lastFrame { frameStep = record.index - lastFrame }
    lastFrame = record.index
    lastTime = record.time
    detector?.process(record.outputs, frame: record.index, time: record.time, emit: emit)
    return .proceed
  }

  /// Ends open events after the last record.
  public func end(totalSamples: Int, emit: (StreamEvent) -> Void) { close(emit: emit) }

  /// Ends open events at the reset; the detector starts afresh.
  public func stateWasReset(atSample sample: Int, emit: (StreamEvent) -> Void) { close(emit: emit) }

  private func close(emit: (StreamEvent) -> Void) {
    guard lastFrame >= 0 else { return }
    detector?.finish(frame: lastFrame + frameStep, time: lastTime + secondsPerFrame, emit: emit)
  }
}
