import Pipeline
import StreamCore
import Testing

/// Runs `track` (`[frames][outputs]`, frame n at n × `spf` seconds) through an online
/// ``EventDetector`` and returns its events in the order emitted.
func onlineEvents(
  _ track: [[Float]], _ parameters: EventParameters, names: [String], spf: Double = 0.01,
  resetBefore: Int? = nil
) throws -> [StreamEvent] {
  let detector = try EventDetector(parameters: parameters, names: names, secondsPerFrame: spf)
  var events: [StreamEvent] = []
  for (row, outputs) in track.enumerated() {
    if row == resetBefore {
      detector.finish(frame: row, time: Double(row) * spf) { events.append($0) }
    }
    outputs.withUnsafeBufferPointer {
      detector.process($0, frame: row, time: Double(row) * spf) { events.append($0) }
    }
  }
  detector.finish(frame: track.count, time: Double(track.count) * spf) { events.append($0) }
  return events
}

/// The events as (label, start frame, end frame) triples, checking that every onset is followed by
/// its own offset with the right duration, and that nothing is announced twice.
func spans(_ events: [StreamEvent], spf: Double = 0.01) -> [[Int]] {
  var open: [Int: (frame: Int, time: Double)] = [:]
  var result: [[Int]] = []
  for event in events {
    switch event {
    case .onset(let label, let frame, let time):
      #expect(open[label] == nil, "label \(label) announced twice")
      #expect(abs(time - Double(frame) * spf) < 1e-9)
      open[label] = (frame, time)
    case .offset(let label, let frame, let time, let duration):
      guard let start = open.removeValue(forKey: label) else {
        Issue.record("offset of \(label) without onset")
        continue
      }
      #expect(abs(duration - (time - start.time)) < 1e-9 && frame > start.frame)
      result.append([label, start.frame, frame])
    default: Issue.record("unexpected \(event)")
    }
  }
  #expect(open.isEmpty, "every onset gets an offset by the end")
  return result.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }
}

@Suite("Per-label events")
struct EventDetectorTests {
  let names = ["dog_bark", "siren", "speech"]

  /// A synthetic three-label track (10 ms frames) with known answers: a clean event, two bursts with
  /// a 30 ms gap, a one-frame spike, and a dip that only hysteresis bridges.
  var track: [[Float]] {
    var rows = [[Float]](repeating: [0.1, 0.1, 0.1], count: 100)
    for row in 10..<30 { rows[row][0] = 0.9 }  // dog_bark: frames 10–29
    for row in 40..<50 { rows[row][1] = 0.8 }  // siren: 40–49, gap 50–52, 53–60
    for row in 53..<61 { rows[row][1] = 0.8 }
    rows[70][1] = 0.95  // siren: a one-frame spike
    for row in 20..<45 { rows[row][2] = 0.7 }  // speech: 20–44 with a dip to 0.4 at 30–31
    rows[30][2] = 0.4
    rows[31][2] = 0.4
    return rows
  }

  @Test func knownAnswersWithDefaults() throws {
    // Threshold 0.5, off 0.35: the dip to 0.4 stays on; no minimum durations.
    let events = try onlineEvents(track, EventParameters(), names: names)
    #expect(spans(events) == [[0, 10, 30], [1, 40, 50], [1, 53, 61], [1, 70, 71], [2, 20, 45]])
  }

  @Test func knownAnswersWithoutHysteresisGapFillingAndMinimumDuration() throws {
    var parameters = EventParameters()
    parameters.offThreshold = 0.5
    var events = try onlineEvents(track, parameters, names: names)
    #expect(
      spans(events) == [[0, 10, 30], [1, 40, 50], [1, 53, 61], [1, 70, 71], [2, 20, 30], [2, 32, 45]])
    // A 40 ms minimum gap fills siren's 30 ms gap and speech's 20 ms dip; a 50 ms minimum event
    // drops the one-frame spike.
    parameters.minGapSeconds = 0.04
    parameters.minEventSeconds = 0.05
    events = try onlineEvents(track, parameters, names: names)
    #expect(spans(events) == [[0, 10, 30], [1, 40, 61], [2, 20, 45]])
  }

  @Test func perLabelThresholdsAndTheLabelList() throws {
    var parameters = EventParameters()
    parameters.labelThresholds = ["siren": 0.85]  // siren's bursts (0.8) are below it; the spike is not
    parameters.labels = ["siren", "speech"]
    let events = try onlineEvents(track, parameters, names: names)
    #expect(spans(events) == [[1, 70, 71], [2, 20, 45]])
  }

  @Test func theMedianFilterRemovesSpikesAndDelaysDecisions() throws {
    var parameters = EventParameters()
    parameters.medianFrames = 5
    let detector = try EventDetector(parameters: parameters, names: names, secondsPerFrame: 0.01)
    #expect(detector.filterDelay == 2)
    var decidedAt: [Int] = []
    for (row, outputs) in track.enumerated() {
      outputs.withUnsafeBufferPointer {
        detector.process($0, frame: row, time: Double(row) / 100) { _ in decidedAt.append(row) }
      }
    }
    // dog_bark's onset (frame 10) is announced when frame 12 arrives.
    #expect(decidedAt.first == 12)
    let events = try onlineEvents(track, parameters, names: names)
    #expect(spans(events) == [[0, 10, 30], [1, 40, 50], [1, 53, 61], [2, 20, 45]])
  }

  @Test func onsetsWaitForTheMinimumDurationAndOffsetsForTheMinimumGap() throws {
    var parameters = EventParameters()
    parameters.minEventSeconds = 0.05
    parameters.minGapSeconds = 0.04
    let detector = try EventDetector(parameters: parameters, names: names, secondsPerFrame: 0.01)
    var announced: [(row: Int, event: StreamEvent)] = []
    for (row, outputs) in track.enumerated() {
      outputs.withUnsafeBufferPointer {
        detector.process($0, frame: row, time: Double(row) / 100) { announced.append((row, $0)) }
      }
    }
    // dog_bark: on at frame 10, announced at frame 14 (the 5th frame); off at 30, announced at 33
    // (the 4th frame below).
    let dog = announced.filter {
      if case .onset(0, _, _) = $0.event { return true }
      if case .offset(0, _, _, _) = $0.event { return true }
      return false
    }
    #expect(dog.map(\.row) == [14, 33])
  }

  @Test func aResetEndsOpenEventsAndStartsAfresh() throws {
    // The reset before frame 20 cuts dog_bark there; frames 20–29 make a new event.
    let events = try onlineEvents(track, EventParameters(), names: names, resetBefore: 20)
    #expect(spans(events).filter { $0[0] == 0 } == [[0, 10, 20], [0, 20, 30]])
  }

  @Test func streamingEqualsOfflineOnRandomTracks() throws {
    var generator = SystemRandomNumberGenerator()
    for trial in 0..<300 {
      let labels = Int.random(in: 1...4, using: &generator)
      let length = Int.random(in: 1...400, using: &generator)
      // Piecewise-constant noisy probabilities, so that events of many lengths appear.
      var track: [[Float]] = []
      var level = [Float](repeating: 0, count: labels)
      for _ in 0..<length {
        for label in 0..<labels where Int.random(in: 0..<8, using: &generator) == 0 {
          level[label] = Float.random(in: 0...1, using: &generator)
        }
        track.append(level.map { min(max($0 + Float.random(in: -0.2...0.2, using: &generator), 0), 1) })
      }
      var parameters = EventParameters()
      parameters.threshold = Float.random(in: 0.2...0.8, using: &generator)
      if Bool.random(using: &generator) {
        parameters.offThreshold = parameters.threshold * Float.random(in: 0.5...1)
      }
      parameters.medianFrames = [1, 3, 5, 9, 31].randomElement(using: &generator)!
      parameters.minEventSeconds = [0, 0.01, 0.03, 0.1].randomElement(using: &generator)!
      parameters.minGapSeconds = [0, 0.01, 0.05, 0.2].randomElement(using: &generator)!
      let names = (0..<labels).map { "l\($0)" }
      let online = spans(try onlineEvents(track, parameters, names: names))
      let offline = try offlineEvents(
        track: track, parameters: parameters, names: names, secondsPerFrame: 0.01
      )
      .map { [$0.label, $0.start, $0.end] }
      #expect(online == offline, "trial \(trial): \(parameters)")
      if online != offline { break }
    }
  }

  @Test func parametersOutOfRangeAreOneLineErrors() throws {
    func error(_ change: (inout EventParameters) -> Void) -> String {
      var parameters = EventParameters()
      change(&parameters)
      do {
        _ = try EventDetector(parameters: parameters, names: ["a", "b"], secondsPerFrame: 0.01)
        return "accepted"
      } catch { return error.description }
    }
    #expect(error { $0.threshold = 1.5 } == "event threshold 1.5 is out of range: 0 to 1")
    #expect(
      error { $0.labelThresholds = ["a": .nan] }.hasPrefix("event threshold of 'a' nan is out of range"))
    #expect(error { $0.labels = ["c"] } == "the model has no output labelled 'c' (its labels: a, b)")
    #expect(error { $0.labelOffThresholds = ["b": 0.7] }.hasPrefix("event off threshold of 'b' 0.7"))
    #expect(error { $0.medianFrames = 4 }.contains("an odd number of frames"))
    #expect(error { $0.minGapSeconds = -1 } == "minimum gap -1.0 is out of range: 0 to 3600 s")
    #expect(error { $0.minEventSeconds = .infinity }.hasPrefix("minimum event duration inf"))
  }
}
