import Features
import Pipeline
import StreamCore

/// The features a report draws as its heat map: the model's own log-mel or fbank frames, or, for a
/// learned frontend (whose frames are not a spectrogram), a log-mel spectrogram of the audio it
/// received: 64 bands, 25 ms windows, 10 ms hop. Returns the configuration and its caption.
public func reportSpectrogramFeatures(for features: FeatureConfiguration) -> (FeatureConfiguration, String) {
  switch features {
  case .logmel(let configuration): return (features, "log-mel \(configuration.nMels)")
  case .fbank(let configuration): return (features, "fbank \(configuration.numMelBins)")
  case .learned(let frontend): return audioSpectrogramFeatures(sampleRate: frontend.sampleRate)
  }
}

/// A log-mel spectrogram of audio at `sampleRate`: 64 bands, 25 ms windows, 10 ms hop; and its
/// caption.
public func audioSpectrogramFeatures(sampleRate: Int) -> (FeatureConfiguration, String) {
  var configuration = LogMelConfiguration()
  configuration.sampleRate = sampleRate
  configuration.winLength = max(sampleRate / 40, 2)
  var fft = 2
  while fft < configuration.winLength { fft *= 2 }
  configuration.nFFT = fft
  configuration.hopLength = max(sampleRate / 100, 1)
  configuration.nMels = 64
  return (.logmel(configuration), "audio, log-mel 64")
}

/// Gathers what a report draws, from a live stream or from saved outputs, at a bounded resolution
/// (``DecimatedColumns``): the audio's envelope and spectrogram (``tap(_:)``, source thread), the
/// outputs per frame, segments and events, discontinuities. Memory is fixed when it is made (audio
/// side) and at ``begin(names:secondsPerFrame:speechLabel:)`` (outputs side), whatever the length.
public final class ReportBuilder: AudioTap {
  /// Audio samples per second.
  public let sampleRate: Int
  /// The heat map's caption.
  public let spectrogramTitle: String
  private var waveform: DecimatedColumns
  private var spectrum: DecimatedColumns
  private let spectrumExtractor: (any FeatureExtractor)?
  private let spectrumHop: Int
  private var outputs: DecimatedColumns?
  /// The outputs' names.
  public private(set) var names: [String] = []
  private var secondsPerFrame = 0.0
  private var speechLane = 0
  private var openOnsets: [Int: Double] = [:]
  private var bands: [ReportBand] = []
  private var marks: [ReportMark] = []
  private var lastFrameEnd = 0.0
  /// The most bands and marks kept (the rest are counted).
  public static let itemLimit = 100_000
  private var droppedItems = 0

  /// A builder for audio at `features`' rate; the heat map per ``reportSpectrogramFeatures(for:)``.
  /// - Throws: the spectrogram extractor's configuration error.
  public convenience init(features: FeatureConfiguration) throws(FeatureConfigurationError) {
    try self.init(spectrogram: reportSpectrogramFeatures(for: features))
  }

  /// A builder whose heat map shows `spectrogram` (features and caption) of the audio.
  /// - Throws: the spectrogram extractor's configuration error.
  public init(spectrogram: (FeatureConfiguration, String)) throws(FeatureConfigurationError) {
    let (configuration, title) = spectrogram
    sampleRate = configuration.sampleRate
    spectrogramTitle = title
    spectrumExtractor = try configuration.makeExtractor()
    spectrumHop = configuration.hopLength
    waveform = DecimatedColumns(channels: 1, capacity: 4096, span: max(sampleRate / 1000, 1))
    spectrum = DecimatedColumns(channels: configuration.featureCount, capacity: 1024)
    bands.reserveCapacity(1024)
    // Marks come per frame on the consumer thread: room for all of them now.
    marks.reserveCapacity(Self.itemLimit)
  }

  /// Audio: the waveform's envelope and the heat map's frames. Source thread; allocates nothing.
  public func tap(_ samples: UnsafeBufferPointer<Float>) {
    for sample in samples { waveform.add(sample) }
    spectrumExtractor?.push(samples) { frame in spectrum.add(frame) }
  }

  /// The outputs are named `names` (at most 4096 are kept), records come `secondsPerFrame` apart,
  /// and speech segments belong to `speechLabel` (the only output of a one-output model).
  public func begin(names: [String], secondsPerFrame: Double, speechLabel: String = "speech") {
    self.names = Array(names.prefix(4096))
    self.secondsPerFrame = secondsPerFrame
    speechLane = self.names.firstIndex(of: speechLabel) ?? 0
    outputs = DecimatedColumns(channels: self.names.count, capacity: 2048)
  }

  /// One record's outputs (`names.count` of them, more are ignored) at `time` seconds. Consumer
  /// thread; allocates nothing.
  public func frame(_ values: UnsafeBufferPointer<Float>, time: Double, discontinuity: Bool) {
    guard outputs != nil, values.count >= names.count else { return }
    outputs!.add(UnsafeBufferPointer(rebasing: values[0..<names.count]))
    lastFrameEnd = time + secondsPerFrame
    if discontinuity { mark("discontinuity", at: time) }
  }

  /// A mark ("discontinuity" or "reset") at `time` seconds.
  public func mark(_ kind: String, at time: Double) {
    guard marks.count < Self.itemLimit else {
      droppedItems += 1
      return
    }
    marks.append(ReportMark(kind: kind, time: time))
  }

  /// A decided event (speech segments and label events become bands).
  public func event(_ event: StreamEvent) {
    switch event {
    case .speechSegment(let start, let end):
      band(speechLane, Double(start) / Double(sampleRate), Double(end) / Double(sampleRate))
    case .onset(let label, _, let time): openOnsets[label] = time
    case .offset(let label, _, let time, let duration):
      openOnsets[label] = nil
      band(label, time - duration, time)
    case .speechStart, .speechDiscarded: break
    }
  }

  /// A band of output `label` from `start` to `end` seconds.
  public func band(_ label: Int, _ start: Double, _ end: Double) {
    guard names.indices.contains(label), start.isFinite, end.isFinite else { return }
    guard bands.count < Self.itemLimit else {
      droppedItems += 1
      return
    }
    bands.append(ReportBand(label: names[label], start: start, end: max(end, start)))
  }

  /// The report: title and summary as given, everything gathered, the histograms, at most
  /// `laneLimit` lanes (the most active). `thresholds` gives lanes their threshold lines.
  public func data(
    title: String, summary: [ReportValue], histograms: [ReportHistogram],
    thresholds: [String: (on: Float, off: Float?)] = [:], laneLimit: Int = 8
  ) -> ReportData {
    let audioSeconds = Double(waveform.inputs) / Double(sampleRate)
    var data = ReportData(title: title, duration: max(audioSeconds, lastFrameEnd))
    data.summary = summary
    data.histograms = histograms
    if waveform.inputs > 0 {
      data.waveform = ReportSeries(waveform, inputSeconds: 1 / Double(sampleRate))
      if spectrum.count > 0 {
        var values: [Float] = []
        values.reserveCapacity(spectrum.count * spectrum.channels)
        for column in 0..<spectrum.count {
          for band in 0..<spectrum.channels { values.append(spectrum.mean(column, band)) }
        }
        data.spectrogram = ReportSpectrogram(
          title: spectrogramTitle, columnSeconds: Double(spectrum.span * spectrumHop) / Double(sampleRate),
          bands: spectrum.channels, values: values)
      }
    } else {
      data.notes.append("No audio was given: the waveform and the features are not drawn.")
    }
    if let outputs {
      data.lanes = names.indices.map { index in
        let series = ReportSeries(outputs, channel: index, inputSeconds: secondsPerFrame)
        let threshold = thresholds[names[index]]
        return ReportLane(
          label: names[index], threshold: threshold?.on, offThreshold: threshold?.off, series: series)
      }
    }
    data.bands = bands
    // An event still open at the end (saved records cut short) runs to the end.
    for (label, start) in openOnsets.sorted(by: { $0.key < $1.key }) where names.indices.contains(label) {
      data.bands.append(ReportBand(label: names[label], start: start, end: data.duration))
    }
    data.marks = marks
    if droppedItems > 0 {
      data.notes.append("\(droppedItems) bands and marks beyond \(Self.itemLimit) are not drawn.")
    }
    data.keepMostActiveLanes(laneLimit)
    return data
  }
}

/// Records a live stream for a report: an observer of every record (outputs, discontinuities,
/// resets) and the audio tap of the stream; events reach it through ``ReportingSink``.
/// Per frame it allocates nothing (the builder's memory is fixed at `begin`).
public final class ReportObserver: StreamObserver {
  /// What it gathers.
  public let builder: ReportBuilder
  let speechLabel: String

  /// An observer feeding `builder`; speech segments go to the lane of `speechLabel`.
  public init(builder: ReportBuilder, speechLabel: String = "speech") {
    self.builder = builder
    self.speechLabel = speechLabel
  }

  /// Takes the outputs' names.
  public func begin(_ stream: StreamDescription) throws {
    builder.begin(
      names: outputNames(stream), secondsPerFrame: stream.secondsPerFrame, speechLabel: speechLabel)
  }

  /// Keeps the record's outputs.
  public func observe(_ record: FrameRecord, emit: (StreamEvent) -> Void) -> ObserverAction {
    if record.stateReset { builder.mark("reset", at: record.time) }
    builder.frame(record.outputs, time: record.time, discontinuity: record.discontinuity)
    return .proceed
  }
}

/// A sink that hands every event to a ``ReportBuilder`` as well as to the sink it wraps (if any);
/// records go to the wrapped sink only.
public final class ReportingSink: EventSink {
  let inner: (any FrameSink)?
  let builder: ReportBuilder

  /// Wraps `inner` (nil: nothing else is written).
  public init(wrapping inner: (any FrameSink)?, builder: ReportBuilder) {
    self.inner = inner
    self.builder = builder
  }

  /// Begins the wrapped sink.
  public func begin(_ stream: StreamDescription) throws { try inner?.begin(stream) }
  /// Writes the record to the wrapped sink.
  public func write(_ record: FrameRecord) throws { try inner?.write(record) }
  /// Keeps the event and writes it to the wrapped sink when that takes events.
  public func write(_ event: StreamEvent) throws {
    builder.event(event)
    try (inner as? any EventSink)?.write(event)
  }
  /// Finishes the wrapped sink.
  public func finish() throws { try inner?.finish() }
}
