import StreamCore

#if canImport(Glibc)
  import Glibc
#endif

/// What an observer asks of the stream after a frame.
public enum ObserverAction: Sendable, Equatable {
  /// Nothing.
  case proceed
  /// Reset the recurrent state before the next frame is stepped.
  case resetState
}

/// Watches the stream's records on the consumer thread: decides events (speech segments), asks
/// for state resets, shows progress. Observers see every frame (``StreamOptions/every`` and
/// ``StreamOptions/quiet`` only thin what reaches the sink), before the sink does.
///
/// Real-time contract: ``observe(_:emit:)`` runs once per frame and must not allocate, lock or do
/// I/O; allocate in ``begin(_:)``. ``idle(frames:counters:captureToOutput:)`` runs when the ring
/// is empty and may do occasional I/O.
public protocol StreamObserver: AnyObject {
  /// Whether this observer emits events (the stream then needs an ``EventSink`` or no sink).
  var emitsEvents: Bool { get }
  /// Before the first frame: check the stream (e.g. that a label exists), allocate.
  func begin(_ stream: StreamDescription) throws
  /// One frame's record; events go to `emit` as soon as they are decided.
  func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction
  /// The ring is empty and the consumer is about to wait.
  func idle(frames: Int, counters: StreamCounters, captureToOutput: LatencyRecorder)
  /// The stream has ended after `totalSamples` samples: emit what is still pending.
  func end(totalSamples: Int, emit: (StreamEvent) -> Void)
  /// The model state was reset on request at `sample` (the start of the next record's frame):
  /// end what is open there; the stream goes on.
  func stateWasReset(atSample sample: Int, emit: (StreamEvent) -> Void)
}

extension StreamObserver {
  /// No events.
  public var emitsEvents: Bool { false }
  /// Nothing to check.
  public func begin(_ stream: StreamDescription) throws {}
  /// Nothing to do.
  public func idle(frames: Int, counters: StreamCounters, captureToOutput: LatencyRecorder) {}
  /// Nothing pending.
  public func end(totalSamples: Int, emit: (StreamEvent) -> Void) {}
  /// Nothing to end.
  public func stateWasReset(atSample sample: Int, emit: (StreamEvent) -> Void) {}
}

/// Which output carries the speech probability: the one labelled `label`, or the only output of a
/// single-output model. Anything else is a ``StreamError/missingLabel(_:labels:)``.
func speechOutput(_ label: String, in stream: StreamDescription) throws(StreamError) -> Int {
  if let index = stream.labels?.firstIndex(of: label) { return index }
  if stream.outputCount == 1 { return 0 }
  throw .missingLabel(label, labels: stream.labels ?? [])
}

/// Speech segments online (``SegmentDetector``: silero-vad's `get_speech_timestamps` rules) on the
/// speech output, as ``StreamEvent``s. Consumer thread; allocates nothing per frame.
public final class SegmentObserver: StreamObserver {
  /// The detector's parameters.
  public let parameters: SegmentParameters
  /// The output's label.
  public let speechLabel: String
  private var detector: SegmentDetector?
  private var speechIndex = 0

  /// Segments on the output labelled `speechLabel` (a single-output model uses its only output).
  public init(parameters: SegmentParameters = SegmentParameters(), speechLabel: String = "speech") {
    self.parameters = parameters
    self.speechLabel = speechLabel
  }

  /// Events.
  public var emitsEvents: Bool { true }

  /// Finds the speech output and checks the parameters against the frame length.
  public func begin(_ stream: StreamDescription) throws {
    speechIndex = try speechOutput(speechLabel, in: stream)
    try parameters.validate(chunkSamples: stream.hopLength, sampleRate: stream.sampleRate)
    detector = SegmentDetector(
      parameters: parameters, chunkSamples: stream.hopLength, sampleRate: stream.sampleRate)
  }

  /// Feeds the frame's speech probability to the detector.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    detector?.process(record.outputs[speechIndex], emit: emit)
    return .proceed
  }

  /// Closes an open segment.
  public func end(totalSamples: Int, emit: (StreamEvent) -> Void) {
    detector?.finish(totalSamples: totalSamples, emit: emit)
  }

  /// Closes an open segment at the reset (it ends there, as at the end of a stream); the detector
  /// starts afresh with the stream's chunk count going on.
  public func stateWasReset(atSample sample: Int, emit: (StreamEvent) -> Void) {
    detector?.restart(atSample: sample, emit: emit)
  }
}

/// Resets the recurrent state after `seconds` without speech (the speech probability below
/// `threshold` on every frame). Long-running VAD streams use it because the state's probabilities
/// drift over hours; off by default so that results equal the official model's.
/// Consumer thread; allocates nothing per frame.
public final class SilenceResetPolicy: StreamObserver {
  /// Seconds of silence before a reset.
  public let seconds: Double
  /// A probability below it is silence.
  public let threshold: Float
  /// The output's label.
  public let speechLabel: String
  private var speechIndex = 0
  private var framesNeeded = Int.max
  private var silentFrames = 0

  /// A policy; `seconds` must be positive and finite, `threshold` in 0...1.
  public init(seconds: Double, threshold: Float = 0.35, speechLabel: String = "speech") throws(StreamError) {
    guard seconds > 0 && seconds.isFinite && seconds <= 86_400 else {
      throw .invalidOption(name: "reset after silence", value: "\(seconds)", allowed: "0 < s ≤ 86400 seconds")
    }
    guard threshold >= 0 && threshold <= 1 else {
      throw .invalidOption(name: "silence threshold", value: "\(threshold)", allowed: "0 to 1")
    }
    self.seconds = seconds
    self.threshold = threshold
    self.speechLabel = speechLabel
  }

  /// Finds the speech output; converts seconds to frames.
  public func begin(_ stream: StreamDescription) throws {
    speechIndex = try speechOutput(speechLabel, in: stream)
    framesNeeded = Int((seconds / stream.secondsPerFrame).rounded(.up))
    silentFrames = 0
  }

  /// Counts silent frames; asks for a reset when there were enough.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    silentFrames = record.outputs[speechIndex] < threshold ? silentFrames + 1 : 0
    guard silentFrames >= framesNeeded else { return .proceed }
    silentFrames = 0
    return .resetState
  }
}

/// The lines at the bottom of the terminal that ``ProgressDisplay`` (one line) and ``LiveMeter``
/// (a screen of lines) draw on standard error, shared with a sink that writes to the same terminal
/// so that the sink erases them before a record lands there (records and the display never
/// interleave). Consumer thread only.
public final class TerminalStatusLine {
  /// Lines on the terminal now (0: nothing shown).
  public private(set) var shownLines = 0

  /// Whether a status is on the terminal now.
  public var isShowing: Bool { shownLines > 0 }

  /// Nothing shown yet.
  public init() {}

  /// Draws `text` over the line (carriage return, text, erase to the end).
  public func show(_ text: String) { show(lines: [text]) }

  /// Draws `lines` over what was shown (the cursor goes back to the first shown line; each line is
  /// erased to its end; lines left over from a taller screen are erased). The cursor stays at the
  /// end of the last line.
  /// Lines longer than the terminal is wide are cut to its width (a wrapped line would make the
  /// next redraw start too low).
  public func show(lines: [String]) {
    var size = winsize()
    let columns =
      ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 1 ? Int(size.ws_col) - 1 : Int.max
    var text = shownLines > 1 ? "\r\u{1B}[\(shownLines - 1)A" : "\r"
    text +=
      lines.map { $0.count > columns ? String($0.prefix(columns)) : $0 }.joined(separator: "\u{1B}[K\n")
      + "\u{1B}[K"
    if lines.count < shownLines { text += "\u{1B}[J" }
    writeToStandardError(text)
    shownLines = lines.count
  }

  /// Erases what is shown.
  public func clear() {
    guard shownLines > 0 else { return }
    // One line: erase it; several: go up to the first and erase to the end of the screen.
    writeToStandardError(shownLines > 1 ? "\r\u{1B}[\(shownLines - 1)A\u{1B}[J" : "\r\u{1B}[K")
    shownLines = 0
  }
}

/// A one-line live display (frames, drops, xruns, capture-to-output p99) on standard error,
/// redrawn at most twice a second while the consumer is idle, erased at the end.
public final class ProgressDisplay: StreamObserver {
  let line: TerminalStatusLine
  private var last: UInt64 = 0

  /// A display on `line`.
  public init(line: TerminalStatusLine) { self.line = line }

  /// Starts the half-second clock.
  public func begin(_ stream: StreamDescription) throws { last = monotonicNow() }

  /// Nothing per frame.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction { .proceed }

  /// Redraws when half a second has passed.
  public func idle(frames: Int, counters: StreamCounters, captureToOutput: LatencyRecorder) {
    let now = monotonicNow()
    guard now &- last > 500_000_000 else { return }
    last = now
    line.show(
      formatted(
        "%d frames, %d dropped, %d xruns, capture-to-output p99 %.2f ms", frames,
        counters.dropped.load(ordering: .relaxed), counters.xruns.load(ordering: .relaxed),
        captureToOutput.summary.p99 / 1000))
  }

  /// Erases the line.
  public func end(totalSamples: Int, emit: (StreamEvent) -> Void) { line.clear() }
}
