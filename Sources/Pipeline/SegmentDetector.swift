import StreamCore

/// Parameters of ``SegmentDetector``: silero-vad's `get_speech_timestamps` names and defaults.
public struct SegmentParameters: Sendable, Equatable {
  /// `threshold`: a probability at or above it is speech.
  public var threshold: Float = 0.5
  /// `neg_threshold`: below it, speech has stopped; nil = `max(threshold − 0.15, 0.01)`.
  public var negativeThreshold: Float?
  /// `min_speech_duration_ms`: shorter segments are discarded.
  public var minSpeechMs: Double = 250
  /// `min_silence_duration_ms`: silence that ends a segment.
  public var minSilenceMs: Double = 100
  /// `speech_pad_ms`: added at both ends of each segment.
  public var speechPadMs: Double = 30
  /// `max_speech_duration_s`: longer segments are split (infinity: never).
  public var maxSpeechSeconds: Double = .infinity
  /// `min_silence_at_max_speech` (ms): silences shorter than this are not used as split points.
  public var minSilenceAtMaxSpeechMs: Double = 98

  /// The defaults.
  public init() {}

  /// Checks every parameter against its range for frames of `chunkSamples` at `sampleRate`: the
  /// thresholds in 0...1 (the exit threshold not above the threshold), durations non-negative and
  /// at most an hour, the padding at most a minute, and a maximum speech duration longer than one
  /// frame plus both paddings (shorter would split every frame into overlapping segments).
  /// - Throws: ``StreamError/invalidOption(name:value:allowed:)`` naming the parameter.
  public func validate(chunkSamples: Int, sampleRate: Int) throws(StreamError) {
    func check(_ name: String, _ value: Double, _ range: ClosedRange<Double>, _ allowed: String)
      throws(StreamError)
    {
      guard range.contains(value) else {
        throw .invalidOption(name: name, value: "\(value)", allowed: allowed)
      }
    }
    try check("threshold", Double(threshold), 0...1, "0 to 1")
    if let negativeThreshold {
      try check("exit threshold", Double(negativeThreshold), 0...Double(threshold), "0 to the threshold")
    }
    try check("minimum speech duration", minSpeechMs, 0...3_600_000, "0 to 3600000 ms")
    try check("minimum silence duration", minSilenceMs, 0...3_600_000, "0 to 3600000 ms")
    try check("speech padding", speechPadMs, 0...60_000, "0 to 60000 ms")
    try check("minimum silence at maximum speech", minSilenceAtMaxSpeechMs, 0...3_600_000, "0 to 3600000 ms")
    if maxSpeechSeconds != .infinity {
      let shortest = (Double(chunkSamples) / Double(sampleRate) + 2 * speechPadMs / 1000)
      try check(
        "maximum speech duration", maxSpeechSeconds, shortest.nextUp...86_400,
        "more than one frame plus twice the padding (\(shortest) s), at most 86400 s")
    }
  }
}

/// Speech segments from per-chunk speech probabilities, online, with the semantics of silero-vad's
/// `get_speech_timestamps_from_probs` (a port of its state machine; the offline result on a file
/// equals the official one, which a test checks).
///
/// Decision delays: a start is announced on the chunk whose probability first reaches `threshold`
/// (as `VADIterator` does); an end is decided once the probability has stayed below
/// `neg_threshold` for `min_silence_duration_ms` (100 ms by default), i.e. about min_silence + one
/// chunk after the speech stops. Reported times include `speech_pad_ms`. Segments shorter than
/// `min_speech_duration_ms` are reported as `.speechDiscarded` of their announced start. When
/// `min_silence < 2 × speech_pad` (not the default) a closed segment waits for the next start or
/// the end of the stream, because its end padding depends on the gap that follows.
///
/// Does not allocate (events go to a closure).
public struct SegmentDetector: Sendable {
  let parameters: SegmentParameters
  let chunkSamples: Int
  let sampleRate: Int
  let negativeThreshold: Float
  let minSpeech: Double
  let pad: Int
  let maxSpeech: Double
  let minSilence: Double
  let minSilenceAtMax: Double

  private var triggered = false
  private var speechStart = 0
  private var tempEnd = 0
  /// Longest silence inside the current speech usable as a split point: (end sample, duration).
  private var bestPossibleEnd: (end: Int, duration: Int)?
  private var chunk = 0
  /// The raw (unpadded) end of the last emitted segment.
  private var lastRawEnd: Int?
  /// A closed segment waiting for the gap after it (raw start, raw end).
  private var pending: (start: Int, end: Int)?
  private var announcedStart: Int?

  /// A detector for chunks of `chunkSamples` samples at `sampleRate`.
  public init(parameters: SegmentParameters = SegmentParameters(), chunkSamples: Int, sampleRate: Int) {
    self.parameters = parameters
    self.chunkSamples = chunkSamples
    self.sampleRate = sampleRate
    let rate = Double(sampleRate)
    negativeThreshold = parameters.negativeThreshold ?? max(parameters.threshold - 0.15, 0.01)
    minSpeech = rate * parameters.minSpeechMs / 1000
    pad = Int(rate * parameters.speechPadMs / 1000)
    maxSpeech = rate * parameters.maxSpeechSeconds - Double(chunkSamples) - 2 * Double(pad)
    minSilence = rate * parameters.minSilenceMs / 1000
    minSilenceAtMax = rate * parameters.minSilenceAtMaxSpeechMs / 1000
  }

  /// Feeds the next chunk's speech probability.
  public mutating func process(_ probability: Float, emit: (StreamEvent) -> Void) {
    let current = chunkSamples * chunk
    chunk += 1
    if probability >= parameters.threshold && tempEnd != 0 {
      let silence = current - tempEnd
      if Double(silence) > minSilenceAtMax, silence > (bestPossibleEnd?.duration ?? -1) {
        bestPossibleEnd = (tempEnd, silence)
      }
      tempEnd = 0
    }
    if probability >= parameters.threshold && !triggered {
      triggered = true
      open(at: current, emit: emit)
      return
    }
    if triggered && Double(current - speechStart) > maxSpeech {
      // Split at the longest silence seen inside the segment, else right here.
      if let split = bestPossibleEnd {
        close(end: split.end, emit: emit, force: true)
        open(at: split.end + split.duration, emit: emit)
        tempEnd = 0
        bestPossibleEnd = nil
      } else {
        close(end: current, emit: emit, force: true)
        triggered = false
        tempEnd = 0
        bestPossibleEnd = nil
        return
      }
    }
    if probability < negativeThreshold && triggered {
      if tempEnd == 0 { tempEnd = current }
      if Double(current - tempEnd) < minSilence { return }
      close(end: tempEnd, emit: emit, force: false)
      tempEnd = 0
      triggered = false
      bestPossibleEnd = nil
    }
  }

  /// Ends the stream after `totalSamples` samples: closes an open segment (if long enough) and
  /// emits what is pending; then the detector is ready for a new stream.
  public mutating func finish(totalSamples: Int, emit: (StreamEvent) -> Void) {
    if triggered {
      if Double(totalSamples - speechStart) > minSpeech {
        flushPending(nextRawStart: speechStart, emit: emit)
        pending = (speechStart, totalSamples)
      } else if let announced = announcedStart {
        emit(.speechDiscarded(sample: announced))
      }
    }
    flushPending(nextRawStart: nil, total: totalSamples, emit: emit)
    self = SegmentDetector(parameters: parameters, chunkSamples: chunkSamples, sampleRate: sampleRate)
  }

  /// A state reset at `sample`: ends an open segment there as ``finish(totalSamples:emit:)``
  /// does, then goes on from the same chunk count (stream time continues).
  public mutating func restart(atSample sample: Int, emit: (StreamEvent) -> Void) {
    let next = chunk
    finish(totalSamples: sample, emit: emit)
    chunk = next
  }

  private mutating func open(at sample: Int, emit: (StreamEvent) -> Void) {
    speechStart = sample
    flushPending(nextRawStart: sample, emit: emit)
    announcedStart = paddedStart(sample)
    emit(.speechStart(sample: announcedStart!))
  }

  private mutating func close(end: Int, emit: (StreamEvent) -> Void, force: Bool) {
    if force || Double(end - speechStart) > minSpeech {
      pending = (speechStart, end)
      // With min_silence ≥ 2 pad the gap to any next segment is at least 2 pad: pad is final now.
      if minSilence >= 2 * Double(pad) { flushPending(nextRawStart: nil, emit: emit) }
    } else if let announced = announcedStart {
      emit(.speechDiscarded(sample: announced))
    }
    announcedStart = nil
  }

  /// Emits the pending segment with its end padding: `pad`, or half the gap to the next segment
  /// when that gap is shorter than `2 pad` (as `get_speech_timestamps` pads).
  private mutating func flushPending(nextRawStart: Int?, total: Int? = nil, emit: (StreamEvent) -> Void) {
    guard let segment = pending else { return }
    var end = segment.end + pad
    if let nextRawStart, nextRawStart - segment.end < 2 * pad {
      end = segment.end + (nextRawStart - segment.end) / 2
    }
    if let total { end = min(end, total) }
    emit(.speechSegment(start: paddedStart(segment.start), end: end))
    lastRawEnd = segment.end
    pending = nil
  }

  /// Start padding: `pad`, or half the gap to the previous segment when that is shorter than 2 pad.
  private func paddedStart(_ raw: Int) -> Int {
    if let lastRawEnd, raw - lastRawEnd < 2 * pad { return max(0, raw - (raw - lastRawEnd) / 2) }
    return max(0, raw - pad)
  }
}
