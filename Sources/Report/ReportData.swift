import Pipeline

/// A time series drawn as a min/max envelope: column `i` covers
/// `[i × columnSeconds, (i + 1) × columnSeconds)` of stream time.
public struct ReportSeries: Sendable, Equatable {
  /// Seconds per column.
  public var columnSeconds: Double
  /// `[columns]` each column's smallest value.
  public var low: [Float]
  /// `[columns]` each column's largest value.
  public var high: [Float]

  /// A series.
  public init(columnSeconds: Double, low: [Float], high: [Float]) {
    self.columnSeconds = columnSeconds
    self.low = low
    self.high = high
  }

  /// Channel `channel` of `columns` (inputs `inputSeconds` apart) as a series.
  public init(_ columns: DecimatedColumns, channel: Int = 0, inputSeconds: Double) {
    columnSeconds = Double(columns.span) * inputSeconds
    low = (0..<columns.count).map { columns.minimum($0, channel) }
    high = (0..<columns.count).map { columns.maximum($0, channel) }
  }

  /// Columns merged `factor` at a time (min of mins, max of maxes), so that at most `limit` remain.
  func merged(toAtMost limit: Int) -> ReportSeries {
    guard limit > 0, low.count > limit else { return self }
    let factor = (low.count + limit - 1) / limit
    var result = ReportSeries(columnSeconds: columnSeconds * Double(factor), low: [], high: [])
    for start in stride(from: 0, to: low.count, by: factor) {
      let end = min(start + factor, low.count)
      result.low.append(low[start..<end].min() ?? 0)
      result.high.append(high[start..<end].max() ?? 0)
    }
    return result
  }
}

/// A heat map over time: `values[column × bands + band]`, band 0 the lowest frequency.
public struct ReportSpectrogram: Sendable, Equatable {
  /// What it shows, e.g. "log-mel, 40 bands (the model's features)".
  public var title: String
  /// Seconds per column.
  public var columnSeconds: Double
  /// Values per column.
  public var bands: Int
  /// `[columns, bands]`.
  public var values: [Float]

  /// A heat map.
  public init(title: String, columnSeconds: Double, bands: Int, values: [Float]) {
    self.title = title
    self.columnSeconds = columnSeconds
    self.bands = bands
    self.values = values
  }

  /// Columns in the map.
  public var columns: Int { bands > 0 ? values.count / bands : 0 }
}

/// One output's lane: its probability over time and, when known, its thresholds.
public struct ReportLane: Sendable, Equatable {
  /// The output's name.
  public var label: String
  /// The on (speech) threshold drawn as a line, if any.
  public var threshold: Float?
  /// The off (exit) threshold, if any.
  public var offThreshold: Float?
  /// The output over time.
  public var series: ReportSeries

  /// A lane.
  public init(label: String, threshold: Float? = nil, offThreshold: Float? = nil, series: ReportSeries) {
    self.label = label
    self.threshold = threshold
    self.offThreshold = offThreshold
    self.series = series
  }
}

/// A decided stretch of stream time: a speech segment or a label's event, `[start, end)` seconds.
public struct ReportBand: Sendable, Equatable {
  /// The lane it belongs to (the output's name).
  public var label: String
  /// Start, seconds.
  public var start: Double
  /// End, seconds.
  public var end: Double

  /// A band.
  public init(label: String, start: Double, end: Double) {
    self.label = label
    self.start = start
    self.end = end
  }
}

/// A moment worth a mark: a discontinuity (audio dropped or lost to an overrun before this frame)
/// or a state reset.
public struct ReportMark: Sendable, Equatable {
  /// What happened: "discontinuity" or "reset".
  public var kind: String
  /// When, seconds.
  public var time: Double

  /// A mark.
  public init(kind: String, time: Double) {
    self.kind = kind
    self.time = time
  }
}

/// A latency distribution drawn on a log axis.
public struct ReportHistogram: Sendable, Equatable {
  /// Its name, e.g. "step".
  public var name: String
  /// The non-empty bins, in order.
  public var bins: [LatencyBin]
  /// Percentiles marked on it, µs: (name, value).
  public var percentiles: [ReportValue]

  /// A histogram.
  public init(name: String, bins: [LatencyBin], percentiles: [ReportValue]) {
    self.name = name
    self.bins = bins
    self.percentiles = percentiles
  }
}

/// A named number or text of the summary, or a named percentile.
public struct ReportValue: Sendable, Equatable {
  /// The name.
  public var name: String
  /// The text shown.
  public var text: String
  /// The number, when it is one.
  public var number: Double?

  /// A value.
  public init(name: String, text: String, number: Double? = nil) {
    self.name = name
    self.text = text
    self.number = number
  }
}

/// Everything a report draws, independent of where it came from (a live run or saved outputs).
public struct ReportData: Sendable, Equatable {
  /// The heading.
  public var title: String
  /// The run's summary: model, features, frames, dropped, x real-time, machine…
  public var summary: [ReportValue] = []
  /// The length of the shared time axis, seconds.
  public var duration: Double
  /// The audio's min/max envelope, if the audio was seen.
  public var waveform: ReportSeries?
  /// The features (or a spectrogram of the audio), if the audio was seen.
  public var spectrogram: ReportSpectrogram?
  /// One lane per drawn output.
  public var lanes: [ReportLane] = []
  /// Outputs not drawn (a many-class model shows its most active ones).
  public var hiddenLabels: [String] = []
  /// Segments and events.
  public var bands: [ReportBand] = []
  /// Discontinuities and resets.
  public var marks: [ReportMark] = []
  /// Latency distributions.
  public var histograms: [ReportHistogram] = []
  /// Lines shown under the summary (what is missing and why).
  public var notes: [String] = []

  /// An empty report of `duration` seconds.
  public init(title: String, duration: Double) {
    self.title = title
    self.duration = duration
  }

  /// The lanes to draw when a model has many outputs: at most `limit`, the ones whose largest
  /// value is highest (ties in output order); the rest go to ``hiddenLabels``.
  public mutating func keepMostActiveLanes(_ limit: Int) {
    guard lanes.count > limit else { return }
    let ranked = lanes.indices.sorted {
      let a = lanes[$0].series.high.max() ?? -.infinity
      let b = lanes[$1].series.high.max() ?? -.infinity
      return a != b ? a > b : $0 < $1
    }
    let kept = Set(ranked.prefix(limit))
    hiddenLabels += lanes.indices.filter { !kept.contains($0) }.map { lanes[$0].label }
    let keptLabels = Set(kept.map { lanes[$0].label })
    lanes = lanes.indices.filter { kept.contains($0) }.map { lanes[$0] }
    bands = bands.filter { keptLabels.contains($0.label) }
  }
}
