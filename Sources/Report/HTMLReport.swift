import Pipeline

#if canImport(Glibc)
  import Glibc
#endif

/// Draws a ``ReportData`` as one self-contained HTML page: inline CSS and SVG, the spectrogram as an
/// inline BMP image, no script and nothing fetched (it opens offline).
///
/// Layout: a heading and the run's summary; one SVG timeline with the waveform, the spectrogram,
/// one lane per output (its curve as a min/max envelope, threshold lines, segments/events as
/// shaded bands with their times), discontinuities and resets as marks across all rows, and a time
/// axis; below it, one histogram per latency on a log axis with p50/p99/p99.9 marked.
///
/// Everything is drawn at the page's resolution (``plotWidth`` pixel columns), so the size grows
/// with the number of events, not with the length of the audio. Elements carry `class` and
/// `data-*` attributes (lane labels, band times, bin edges) that tests and other tools read.
public enum HTMLReport {
  /// The timeline's left margin (lane names), pixels.
  public static let left = 150.0
  /// The timeline's drawing width, pixels: one waveform column per pixel.
  public static let plotWidth = 1020.0
  /// Row heights, pixels.
  static let waveformHeight = 90.0
  static let spectrogramHeight = 110.0
  static let laneHeight = 64.0
  static let gap = 8.0

  /// The x position of `time` seconds on a timeline of `duration` seconds, pixels.
  public static func x(_ time: Double, duration: Double) -> Double {
    left + (duration > 0 ? min(max(time / duration, 0), 1) : 0) * plotWidth
  }

  /// The page.
  public static func render(_ data: ReportData) -> String {
    var page = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8">
      <meta name="generator" content="streamrnn">
      <title>\(htmlEscaped(data.title))</title>
      <style>
      body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 20px;color:#1d2430;background:#fff}
      h1{font-size:18px;margin:0 0 6px}h2{font-size:14px;margin:18px 0 4px}
      table.summary{border-collapse:collapse;margin:4px 0 8px}table.summary td{padding:1px 14px 1px 0}
      table.summary td:first-child{color:#5a6474}
      .note{color:#8a5a00}
      svg text{font:11px system-ui,sans-serif;fill:#333}
      svg .rowname{font-weight:600}svg .axis{stroke:#999;stroke-width:1}
      svg .wave{fill:#4a78b5}svg .curve{fill:none;stroke:#1f5fa8;stroke-width:1.2}
      svg .envelope{fill:#9cc0ea}svg .band{fill:#f0a030;fill-opacity:.28}
      svg .bandtime{font-size:10px;fill:#8a4b00}svg .threshold{stroke:#c03030;stroke-dasharray:4 3}
      svg .offthreshold{stroke:#c07070;stroke-dasharray:1 3}svg .mark{stroke:#d02060;stroke-width:1.3}
      svg .reset{stroke:#6040c0;stroke-width:1.3;stroke-dasharray:3 2}svg .bin{fill:#5b8fd0}
      svg .pct{stroke:#c03030}svg .grid{stroke:#e4e7ec}
      .hists{display:flex;flex-wrap:wrap;gap:12px}
      </style></head><body>
      <h1>\(htmlEscaped(data.title))</h1>
      <table class="summary">

      """
    for item in data.summary {
      page += "<tr><td>\(htmlEscaped(item.name))</td><td>\(htmlEscaped(item.text))</td></tr>\n"
    }
    page += "</table>\n"
    for note in data.notes { page += "<p class=\"note\">\(htmlEscaped(note))</p>\n" }
    page += timeline(data)
    if !data.histograms.isEmpty {
      page += "<h2>Latency</h2>\n<div class=\"hists\">\n"
      for histogram in data.histograms { page += self.histogram(histogram) }
      page += "</div>\n"
    }
    page += "</body></html>\n"
    return page
  }

  /// The shared-time-axis SVG.
  static func timeline(_ data: ReportData) -> String {
    let duration = data.duration
    func xt(_ time: Double) -> Double { x(time, duration: duration) }
    var body = ""
    var y = 6.0
    if let waveform = data.waveform {
      let series = waveform.merged(toAtMost: Int(plotWidth))
      let peak = Double(max(series.high.map(abs).max() ?? 0, series.low.map(abs).max() ?? 0, 1e-6))
      body += rowName("waveform", y: y, height: waveformHeight)
      body += envelope(
        series, duration: duration, top: y, height: waveformHeight, range: -peak...peak, className: "wave")
      body += line(left, y + waveformHeight / 2, left + plotWidth, y + waveformHeight / 2, "grid")
      y += waveformHeight + gap
    }
    if let spectrogram = data.spectrogram, spectrogram.columns > 0 {
      body += rowName("features", y: y, height: spectrogramHeight, note: spectrogram.title)
      let width = min(Double(spectrogram.columns) * spectrogram.columnSeconds, duration)
      body +=
        "<image class=\"spectrogram\" x=\(q(left)) y=\(q(y)) width=\(q(xt(width) - left)) height=\(q(spectrogramHeight)) preserveAspectRatio=\"none\" href=\"data:image/bmp;base64,\(base64(heatMap(spectrogram)))\"/>\n"
      y += spectrogramHeight + gap
    }
    for lane in data.lanes {
      body += "<g class=\"lane\" data-label=\"\(htmlEscaped(lane.label))\">\n"
      let thresholds = [
        lane.threshold.map { "on " + fixed(Double($0), 2) },
        lane.offThreshold.map { "off " + fixed(Double($0), 2) },
      ]
      .compactMap { $0 }.joined(separator: ", ")
      body += rowName(lane.label, y: y, height: laneHeight, note: thresholds.isEmpty ? nil : thresholds)
      body += line(left, y + laneHeight, left + plotWidth, y + laneHeight, "grid")
      for band in data.bands where band.label == lane.label {
        let x0 = xt(band.start)
        let x1 = max(xt(band.end), x0 + 1)
        body +=
          "<rect class=\"band\" x=\(q(x0)) y=\(q(y)) width=\(q(x1 - x0)) height=\(q(laneHeight)) data-start=\"\(fixed(band.start, 3))\" data-end=\"\(fixed(band.end, 3))\"><title>\(htmlEscaped(band.label)) \(fixed(band.start, 3))–\(fixed(band.end, 3)) s</title></rect>\n"
        if x1 - x0 > 46 {
          body +=
            "<text class=\"bandtime\" x=\(q(x0 + 2)) y=\(q(y + 10))>\(fixed(band.start, 2))–\(fixed(band.end, 2))</text>\n"
        }
      }
      let series = lane.series.merged(toAtMost: Int(plotWidth))
      let low = Double(min(0, series.low.filter(\.isFinite).min() ?? 0))
      let high = Double(max(1, series.high.filter(\.isFinite).max() ?? 1))
      body += envelope(
        series, duration: duration, top: y, height: laneHeight, range: low...high, className: "envelope")
      body += curve(series, duration: duration, top: y, height: laneHeight, range: low...high)
      func level(_ value: Float) -> Double {
        let fraction = (Double(value) - low) / (high - low)
        return y + laneHeight - fraction * laneHeight
      }
      if let threshold = lane.threshold {
        body += line(
          left, level(threshold), left + plotWidth, level(threshold), "threshold",
          data: fixed(Double(threshold), 3))
      }
      if let off = lane.offThreshold {
        body += line(
          left, level(off), left + plotWidth, level(off), "offthreshold", data: fixed(Double(off), 3))
      }
      body += "</g>\n"
      y += laneHeight + gap
    }
    if !data.hiddenLabels.isEmpty {
      body +=
        "<text x=\(q(left)) y=\(q(y + 8))>not drawn (less active): \(htmlEscaped(data.hiddenLabels.prefix(40).joined(separator: ", ")))\(data.hiddenLabels.count > 40 ? " …" : "")</text>\n"
      y += 16
    }
    let bottom = y
    for mark in data.marks.prefix(2000) {
      let xm = xt(mark.time)
      body +=
        "<line class=\"\(mark.kind == "reset" ? "reset" : "mark")\" x1=\(q(xm)) y1=\"2\" x2=\(q(xm)) y2=\(q(bottom)) data-time=\"\(fixed(mark.time, 3))\"><title>\(htmlEscaped(mark.kind)) at \(fixed(mark.time, 3)) s</title></line>\n"
    }
    body += line(left, bottom, left + plotWidth, bottom, "axis")
    for tick in ticks(duration) {
      let xk = xt(tick)
      body += line(xk, bottom, xk, bottom + 4, "axis")
      body +=
        "<text x=\(q(xk)) y=\(q(bottom + 15)) text-anchor=\"middle\">\(timeText(tick, step: ticks(duration).dropFirst().first ?? 1))</text>\n"
    }
    body += "<text x=\(q(left + plotWidth)) y=\(q(bottom + 28)) text-anchor=\"end\">seconds</text>\n"
    let height = bottom + 34
    return
      "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\(q(left + plotWidth + 10)) height=\(q(height)) viewBox=\"0 0 \(fixed(left + plotWidth + 10, 1)) \(fixed(height, 1))\" data-duration=\"\(fixed(duration, 3))\">\n"
      + body + "</svg>\n"
  }

  /// One latency histogram: bars on a log axis, percentile lines.
  static func histogram(_ histogram: ReportHistogram) -> String {
    let width = 372.0
    let height = 190.0
    let (x0, x1, y0, y1) = (24.0, width - 26, 22.0, height - 30)
    var body =
      "<text x=\"8\" y=\"14\" class=\"rowname\">\(htmlEscaped(histogram.name)) (µs, log axis)</text>\n"
    guard let first = histogram.bins.first, let last = histogram.bins.last else {
      return
        "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"372\" height=\"40\" data-name=\"\(htmlEscaped(histogram.name))\">\(body)<text x=\"8\" y=\"32\">no values</text></svg>\n"
    }
    let lowDecade = floor(log10(first.lowMicroseconds) + 1e-9)
    let highDecade = max(ceil(log10(last.highMicroseconds) - 1e-9), lowDecade + 1)
    func xv(_ value: Double) -> Double {
      x0 + (log10(max(value, 1e-9)) - lowDecade) / (highDecade - lowDecade) * (x1 - x0)
    }
    let most = Double(histogram.bins.map(\.count).max() ?? 1)
    for bin in histogram.bins {
      let h = Double(bin.count) / most * (y1 - y0)
      let a = xv(bin.lowMicroseconds)
      let b = xv(bin.highMicroseconds)
      body +=
        "<rect class=\"bin\" x=\(q(a)) y=\(q(y1 - h)) width=\(q(max(b - a - 0.5, 0.5))) height=\(q(h)) data-low=\"\(significant(bin.lowMicroseconds))\" data-high=\"\(significant(bin.highMicroseconds))\" data-count=\"\(bin.count)\"><title>\(significant(bin.lowMicroseconds))–\(significant(bin.highMicroseconds)) µs: \(bin.count)</title></rect>\n"
    }
    body += line(x0, y1, x1, y1, "axis")
    var decade = lowDecade
    while decade <= highDecade {
      let xd = xv(pow(10, decade))
      body += line(xd, y1, xd, y1 + 4, "axis")
      body +=
        "<text x=\(q(xd)) y=\(q(y1 + 15)) text-anchor=\"middle\">\(fixed(pow(10, decade), max(0, -Int(decade))))</text>\n"
      decade += 1
    }
    for (index, percentile) in histogram.percentiles.enumerated() {
      guard let value = percentile.number, value > 0 else { continue }
      let xp = min(max(xv(value), x0), x1)
      body += line(xp, y0 - 2, xp, y1, "pct", data: significant(value))
      // Labels right of their line, or left of it near the right edge.
      let anchor = xp > width - 110 ? "end" : "start"
      body +=
        "<text x=\(q(anchor == "end" ? xp - 2 : xp + 2)) y=\(q(y0 + 8 + Double(index) * 11)) text-anchor=\"\(anchor)\">\(htmlEscaped(percentile.name)) \(htmlEscaped(percentile.text))</text>\n"
    }
    return
      "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\(q(width)) height=\(q(height)) data-name=\"\(htmlEscaped(histogram.name))\">\n"
      + body + "</svg>\n"
  }

  // MARK: pieces

  static func rowName(_ name: String, y: Double, height: Double, note: String? = nil) -> String {
    var text =
      "<text class=\"rowname\" x=\(q(left - 8)) y=\(q(y + height / 2)) text-anchor=\"end\">\(htmlEscaped(String(name.prefix(24))))</text>\n"
    if let note {
      text +=
        "<text x=\(q(left - 8)) y=\(q(y + height / 2 + 13)) text-anchor=\"end\">\(htmlEscaped(String(note.prefix(24))))</text>\n"
    }
    return text
  }

  static func line(
    _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ className: String, data: String? = nil
  )
    -> String
  {
    "<line class=\"\(className)\" x1=\(q(x1)) y1=\(q(y1)) x2=\(q(x2)) y2=\(q(y2))\(data.map { " data-value=\"\($0)\"" } ?? "")/>\n"
  }

  /// A filled min/max envelope: along the maxima left to right, back along the minima.
  static func envelope(
    _ series: ReportSeries, duration: Double, top: Double, height: Double, range: ClosedRange<Double>,
    className: String
  ) -> String {
    guard !series.low.isEmpty else { return "" }
    func yv(_ value: Float) -> Double {
      let v = value.isFinite ? Double(value) : range.lowerBound
      return top + height - (min(max(v, range.lowerBound), range.upperBound) - range.lowerBound)
        / (range.upperBound - range.lowerBound) * height
    }
    var points: [String] = []
    points.reserveCapacity(4 * series.low.count)
    for index in series.high.indices {
      let a = x(Double(index) * series.columnSeconds, duration: duration)
      let b = x(Double(index + 1) * series.columnSeconds, duration: duration)
      points.append(
        "\(fixed(a, 1)),\(fixed(yv(series.high[index]), 1)) \(fixed(b, 1)),\(fixed(yv(series.high[index]), 1))"
      )
    }
    for index in series.low.indices.reversed() {
      let a = x(Double(index) * series.columnSeconds, duration: duration)
      let b = x(Double(index + 1) * series.columnSeconds, duration: duration)
      // Never thinner than one pixel, so that silence still shows as a line.
      let bottom = max(yv(series.low[index]), yv(series.high[index]) + 0.8)
      points.append("\(fixed(b, 1)),\(fixed(bottom, 1)) \(fixed(a, 1)),\(fixed(bottom, 1))")
    }
    return "<polygon class=\"\(className)\" points=\"\(points.joined(separator: " "))\"/>\n"
  }

  /// The maxima as a line (a lane's probability curve).
  static func curve(
    _ series: ReportSeries, duration: Double, top: Double, height: Double, range: ClosedRange<Double>
  )
    -> String
  {
    guard !series.high.isEmpty else { return "" }
    var points: [String] = []
    for index in series.high.indices {
      let value = series.high[index].isFinite ? Double(series.high[index]) : range.lowerBound
      let yv =
        top + height - (min(max(value, range.lowerBound), range.upperBound) - range.lowerBound)
        / (range.upperBound - range.lowerBound) * height
      points.append(
        "\(fixed(x((Double(index) + 0.5) * series.columnSeconds, duration: duration), 1)),\(fixed(yv, 1))")
    }
    return "<polyline class=\"curve\" points=\"\(points.joined(separator: " "))\"/>\n"
  }

  /// Tick times: 1, 2 or 5 × a power of ten, about 10 across.
  static func ticks(_ duration: Double) -> [Double] {
    guard duration > 0, duration.isFinite else { return [0] }
    let raw = duration / 10
    let power = pow(10, floor(log10(raw)))
    // Seconds in 1-2-5 steps; from a minute on, whole minutes and hours people read as clock times.
    let clock: [Double] = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    let step =
      raw > 30
      ? (clock.first { $0 >= raw } ?? 86400 * ceil(raw / 86400))
      : ([1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power)
    return stride(from: 0, through: duration + step * 1e-9, by: step).map { $0 }
  }

  static func timeText(_ time: Double, step: Double) -> String {
    if step >= 60, time >= 60 {
      let total = Int(time.rounded())
      return total >= 3600
        ? "\(total / 3600):\(twoDigits(total / 60 % 60)):\(twoDigits(total % 60))"
        : "\(total / 60):\(twoDigits(total % 60))"
    }
    return step >= 1 ? String(Int(time.rounded())) : fixed(time, step >= 0.1 ? 1 : 2)
  }

  static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

  /// The heat map as a 24-bit BMP, one pixel per value, low frequencies at the bottom; colours from
  /// dark blue through teal and green to yellow between the 2nd and the 99.8th percentile.
  static func heatMap(_ spectrogram: ReportSpectrogram) -> [UInt8] {
    let finite = spectrogram.values.filter(\.isFinite).sorted()
    let floorValue = finite.isEmpty ? 0 : finite[finite.count / 50]
    let ceiling = finite.isEmpty ? 1 : finite[min(finite.count - 1, finite.count * 998 / 1000)]
    let spread = max(ceiling - floorValue, 1e-6)
    let palette: [(Double, Double, Double)] = [
      (13, 8, 60), (40, 60, 140), (30, 130, 150), (80, 185, 100), (250, 230, 60),
    ]
    let columns = spectrogram.columns
    let bands = spectrogram.bands
    let rowBytes = (columns * 3 + 3) / 4 * 4
    var image = bmpHeader(width: columns, height: bands, rowBytes: rowBytes)
    for band in 0..<bands {
      var row = [UInt8](repeating: 0, count: rowBytes)
      for column in 0..<columns {
        let value = spectrogram.values[column * bands + band]
        let t = value.isFinite ? Double(min(max((value - floorValue) / spread, 0), 1)) : 0
        let position = t * Double(palette.count - 1)
        let index = min(Int(position), palette.count - 2)
        let f = position - Double(index)
        let a = palette[index]
        let b = palette[index + 1]
        row[column * 3] = UInt8(a.2 + (b.2 - a.2) * f)
        row[column * 3 + 1] = UInt8(a.1 + (b.1 - a.1) * f)
        row[column * 3 + 2] = UInt8(a.0 + (b.0 - a.0) * f)
      }
      image += row
    }
    return image
  }

  /// A BITMAPINFOHEADER BMP header for bottom-up 24-bit rows.
  static func bmpHeader(width: Int, height: Int, rowBytes: Int) -> [UInt8] {
    func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    func le16(_ value: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    let size = 54 + rowBytes * height
    return [0x42, 0x4D] + le32(size) + le32(0) + le32(54) + le32(40) + le32(width) + le32(height) + le16(1)
      + le16(24) + le32(0) + le32(rowBytes * height) + le32(2835) + le32(2835) + le32(0) + le32(0)
  }
}

/// `"value"` with one decimal, for SVG attributes.
func q(_ value: Double) -> String { "\"" + fixed(value, 1) + "\"" }

/// `value` with `digits` decimals (no exponent), "0" for non-finite values.
package func fixed(_ value: Double, _ digits: Int) -> String {
  guard value.isFinite else { return "0" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let scaled = (abs(value) * scale).rounded()
  guard scaled < 1e15 else { return String(Int(value.rounded())) }
  let whole = Int(scaled / scale)
  let fraction = Int(scaled - Double(whole) * scale)
  let sign = value < 0 && scaled > 0 ? "-" : ""
  guard digits > 0 else { return sign + String(whole) }
  let fractionText = String(fraction)
  return sign + String(whole) + "." + String(repeating: "0", count: digits - fractionText.count)
    + fractionText
}

/// Three significant digits, as people write latencies: 0.123, 12.3, 1230.
func significant(_ value: Double) -> String {
  guard value.isFinite, value > 0 else { return "0" }
  let digits = max(0, 2 - Int(floor(log10(value))))
  return fixed(value, min(digits, 6))
}

/// Text made safe for HTML content and attribute values; control characters are dropped.
public func htmlEscaped(_ text: String) -> String {
  var result = ""
  result.reserveCapacity(text.utf8.count)
  for character in text.unicodeScalars {
    switch character {
    case "&": result += "&amp;"
    case "<": result += "&lt;"
    case ">": result += "&gt;"
    case "\"": result += "&quot;"
    case "'": result += "&#39;"
    default:
      if character.value < 0x20 || (0x7F..<0xA0).contains(character.value) { continue }
      result.unicodeScalars.append(character)
    }
  }
  return result
}

/// Standard base64 with padding.
func base64(_ bytes: [UInt8]) -> String {
  let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  var out: [UInt8] = []
  out.reserveCapacity((bytes.count + 2) / 3 * 4)
  var index = 0
  while index < bytes.count {
    let a = Int(bytes[index])
    let b = index + 1 < bytes.count ? Int(bytes[index + 1]) : 0
    let c = index + 2 < bytes.count ? Int(bytes[index + 2]) : 0
    out.append(alphabet[a >> 2])
    out.append(alphabet[(a & 3) << 4 | b >> 4])
    out.append(index + 1 < bytes.count ? alphabet[(b & 15) << 2 | c >> 6] : UInt8(ascii: "="))
    out.append(index + 2 < bytes.count ? alphabet[c & 63] : UInt8(ascii: "="))
    index += 3
  }
  return String(decoding: out, as: UTF8.self)
}
