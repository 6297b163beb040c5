import AllocationCounter
import Features
import Foundation
import Pipeline
import Report
import StreamCore
import Testing

/// Every match of `pattern`'s attribute `name` in elements whose opening tag starts with `tag`.
func attributes(_ html: String, tag: String, name: String) -> [String] {
  var values: [String] = []
  var rest = html[...]
  while let start = rest.range(of: tag) {
    let element = rest[start.lowerBound...].prefix { $0 != ">" }
    if let attribute = element.range(of: " \(name)=\"") {
      values.append(String(element[attribute.upperBound...].prefix { $0 != "\"" }))
    }
    rest = rest[start.upperBound...]
  }
  return values
}

@Suite("Reports")
struct ReportTests {
  @Test func decimatedColumnsKeepTheMinimumMaximumAndMeanOfEachSpan() {
    for count in [1, 7, 64, 65, 1000, 4097] {
      var columns = DecimatedColumns(channels: 2, capacity: 16)
      let values = (0..<count).map { Float(($0 * 7919) % 101) - 50 }
      for value in values { [value, -value].withUnsafeBufferPointer { columns.add($0) } }
      #expect(columns.inputs == count && columns.count <= 16)
      // Whatever the halvings, column i holds inputs [i × span, (i + 1) × span).
      var covered = 0
      for column in 0..<columns.count {
        let slice = values[column * columns.span..<min((column + 1) * columns.span, count)]
        #expect(columns.inputs(in: column) == slice.count)
        #expect(columns.minimum(column, 0) == slice.min() && columns.maximum(column, 0) == slice.max())
        #expect(columns.minimum(column, 1) == -slice.max()! && columns.maximum(column, 1) == -slice.min()!)
        #expect(abs(columns.mean(column, 0) - slice.reduce(0, +) / Float(slice.count)) < 1e-4)
        covered += slice.count
      }
      #expect(covered == count)
    }
  }

  /// A 10-second report with known lanes, bands, marks and a histogram.
  var known: ReportData {
    var data = ReportData(title: "known <run>", duration: 10)
    let probabilities = (0..<100).map { Float($0 >= 20 && $0 < 50 ? 0.9 : 0.1) }
    data.lanes = [
      ReportLane(
        label: "speech", threshold: 0.5, offThreshold: 0.35,
        series: ReportSeries(columnSeconds: 0.1, low: probabilities, high: probabilities)),
      ReportLane(
        label: "dog\"<bark>",
        series: ReportSeries(columnSeconds: 0.1, low: probabilities, high: probabilities)),
    ]
    data.bands = [
      ReportBand(label: "speech", start: 2, end: 5), ReportBand(label: "speech", start: 7.5, end: 8),
      ReportBand(label: "dog\"<bark>", start: 0, end: 10),
    ]
    data.marks = [ReportMark(kind: "discontinuity", time: 2.5), ReportMark(kind: "reset", time: 6)]
    data.histograms = [
      ReportHistogram(
        name: "step",
        bins: [
          LatencyBin(lowMicroseconds: 10, highMicroseconds: 12.59, count: 3),
          LatencyBin(lowMicroseconds: 12.59, highMicroseconds: 15.85, count: 40),
          LatencyBin(lowMicroseconds: 100, highMicroseconds: 125.9, count: 1),
        ], percentiles: [ReportValue(name: "p50", text: "13 µs", number: 13)])
    ]
    return data
  }

  @Test func theTimelineDrawsLanesBandsAndMarksAtTheirTimes() {
    let html = HTMLReport.render(known)
    #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    #expect(
      attributes(html, tag: "<g class=\"lane\"", name: "data-label") == ["speech", "dog&quot;&lt;bark&gt;"])
    // x = 150 + t / 10 s × 1020 px.
    #expect(attributes(html, tag: "<rect class=\"band\"", name: "x") == ["354.0", "915.0", "150.0"])
    #expect(attributes(html, tag: "<rect class=\"band\"", name: "width") == ["306.0", "51.0", "1020.0"])
    #expect(attributes(html, tag: "<rect class=\"band\"", name: "data-start") == ["2.000", "7.500", "0.000"])
    #expect(attributes(html, tag: "<line class=\"mark\"", name: "x1") == ["405.0"])
    #expect(attributes(html, tag: "<line class=\"reset\"", name: "x1") == ["762.0"])
    #expect(attributes(html, tag: "<line class=\"threshold\"", name: "data-value") == ["0.500"])
    #expect(attributes(html, tag: "<line class=\"offthreshold\"", name: "data-value") == ["0.350"])
    #expect(attributes(html, tag: "<svg class=\"timeline\"", name: "data-duration") == ["10.000"])
  }

  @Test func histogramsHaveOneBarPerBinOnALogAxis() {
    let html = HTMLReport.render(known)
    #expect(attributes(html, tag: "<rect class=\"bin\"", name: "data-count") == ["3", "40", "1"])
    #expect(attributes(html, tag: "<rect class=\"bin\"", name: "data-low") == ["10.0", "12.6", "100"])
    // The axis spans 10…1000 µs (whole decades): a bin's x grows with the log of its edge.
    let xs = attributes(html, tag: "<rect class=\"bin\"", name: "x").compactMap(Double.init)
    // The axis runs from 10 µs at x 24 to 1000 µs at x 346: 161 px per decade.
    #expect(xs == [24.0, 24 + 161 * (log10(12.59) - 1), 185.0].map { ($0 * 10).rounded() / 10 })
    #expect(attributes(html, tag: "<line class=\"pct\"", name: "data-value") == ["13.0"])
  }

  @Test func thePageIsSelfContainedAndEscapesEveryName() {
    var data = known
    data.title = "<script>alert(1)</script>"
    data.summary = [ReportValue(name: "model", text: "x\" onload=\"alert(1)")]
    data.notes = ["a\u{1B}[31m note"]
    let html = HTMLReport.render(data)
    #expect(!html.contains("<script"))
    #expect(!html.contains("onload=\""))
    #expect(!html.contains("\u{1B}"))
    // Nothing is fetched: the only URL is the SVG namespace.
    #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("url("))
    #expect(
      html.components(separatedBy: "http").count - 1 == html.components(
        separatedBy: "http://www.w3.org/2000/svg"
      ).count - 1)
  }

  @Test func anHourLongRunGivesAReportUnderTwoMegabytes() throws {
    // One hour at 1 kHz audio (decimation does not depend on the rate) and 32 ms records, with an
    // event every 4 s and a discontinuity every minute.
    let builder = try ReportBuilder(spectrogram: audioSpectrogramFeatures(sampleRate: 1000))
    var block = [Float](repeating: 0, count: 1000)
    for second in 0..<3600 {
      for index in block.indices {
        block[index] = sin(Float(second * 1000 + index) * 0.3) * Float(second % 7) / 7
      }
      block.withUnsafeBufferPointer { builder.tap($0) }
    }
    builder.begin(names: ["speech", "music"], secondsPerFrame: 0.032)
    for frame in 0..<112_500 {
      let time = Double(frame) * 0.032
      let on: Float = Int(time) % 4 < 2 ? 0.9 : 0.1
      [on, 1 - on].withUnsafeBufferPointer {
        builder.frame($0, time: time, discontinuity: frame % 1875 == 0 && frame > 0)
      }
      if frame % 125 == 62 { builder.event(.onset(label: 0, frame: frame, time: time)) }
      if frame % 125 == 124 { builder.event(.offset(label: 0, frame: frame, time: time, duration: 1.984)) }
    }
    let data = builder.data(title: "hour", summary: [], histograms: [])
    #expect(abs(data.duration - 3600) < 0.1)
    #expect(data.bands.count == 900 && data.marks.count == 59)
    let html = HTMLReport.render(data)
    #expect(html.utf8.count < 2_000_000, "\(html.utf8.count) bytes")
    #expect(attributes(html, tag: "<rect class=\"band\"", name: "data-start").count == 900)
    // The waveform is drawn at the page's resolution: at most one column per pixel.
    #expect((data.waveform?.low.count ?? 0) <= 4096)
  }

  @Test func gatheringAudioAndFramesAllocatesNothing() throws {
    let builder = try ReportBuilder(spectrogram: audioSpectrogramFeatures(sampleRate: 16000))
    builder.begin(names: ["speech", "music"], secondsPerFrame: 0.032)
    let block = (0..<512).map { Float(sin(Double($0) * 0.05)) * 0.3 }
    let outputs: [Float] = [0.8, 0.1]
    // Warm up past the first halvings, then count through many more.
    for index in 0..<5000 {
      block.withUnsafeBufferPointer { builder.tap($0) }
      outputs.withUnsafeBufferPointer {
        builder.frame($0, time: Double(index) * 0.032, discontinuity: index % 100 == 0)
      }
    }
    let allocations = block.withUnsafeBufferPointer { samples in
      outputs.withUnsafeBufferPointer { values in
        allocation_counter_start()
        for index in 5000..<40000 {
          builder.tap(samples)
          builder.frame(values, time: Double(index) * 0.032, discontinuity: index % 100 == 0)
        }
        return allocation_counter_stop()
      }
    }
    #expect(allocations == 0)
    // Positive control: the counter counts on this thread.
    allocation_counter_start()
    let array = [Int](repeating: 1, count: Int.random(in: 10...20))
    #expect(allocation_counter_stop() >= 1 && array.count >= 10)
  }

  @Test func manyClassModelsShowTheirMostActiveLanes() {
    var data = ReportData(title: "many", duration: 1)
    data.lanes = (0..<20).map { index in
      let peak = Float(index % 10) / 10
      return ReportLane(label: "c\(index)", series: ReportSeries(columnSeconds: 0.1, low: [0], high: [peak]))
    }
    data.bands = [ReportBand(label: "c0", start: 0, end: 1), ReportBand(label: "c19", start: 0, end: 1)]
    data.keepMostActiveLanes(4)
    #expect(data.lanes.map(\.label) == ["c8", "c9", "c18", "c19"])
    #expect(data.hiddenLabels.count == 16 && data.bands.map(\.label) == ["c19"])
  }
}
