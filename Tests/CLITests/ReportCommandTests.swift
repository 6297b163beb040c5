import Foundation
import Pipeline
import Testing

/// The JSON Lines of `text` as objects.
func jsonLines(_ text: String) throws -> [[String: Any]] {
  try text.split(separator: "\n").map {
    try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
  }
}

/// The values of attribute `name` in elements starting with `tag`.
func htmlAttributes(_ html: String, tag: String, name: String) -> [String] {
  html.components(separatedBy: tag).dropFirst().compactMap { element in
    guard let range = element.prefix(while: { $0 != ">" }).range(of: " \(name)=\"") else { return nil }
    return String(element[range.upperBound...].prefix { $0 != "\"" })
  }
}

@Suite("--events, --report and streamrnn report")
struct ReportCommandTests {
  let bundledDemo = packageRoot.appendingPathComponent("Sources/CBundledModels/demo_speech_16k.wav").path

  @Test func eventsForEveryLabelEqualTheOfflineDecisionsOnTheSameRecords() throws {
    let result = try streamrnn([
      "replay", demoSpeech, "--model", demoModel, "--pace", "max", "--events", "--threshold", "quiet=0.6",
      "--off-threshold", "quiet=0.55", "--threshold", "active=0.45", "--off-threshold", "0.42",
      "--median-frames",
      "5", "--min-event-ms", "50", "--min-gap-ms", "30",
      "--no-timings",
    ])
    #expect(result.status == 0, "\(result.standardError)")
    let lines = try jsonLines(result.standardOutput)
    let records = lines.filter { $0["frame"] != nil && $0["event"] == nil }
    let events = lines.filter { $0["event"] != nil }
    #expect(records.count == 500)
    // Streaming decisions, as (label, onset frame, offset frame).
    var open: [String: Int] = [:]
    var online: [[Int]] = []
    let names = ["quiet", "active"]
    for event in events {
      let label = try #require(event["label"] as? String)
      let frame = try #require(event["frame"] as? Int)
      let time = try #require(event["time"] as? Double)
      #expect(abs(time - Double(frame) * 0.01) < 1e-9)
      if event["event"] as? String == "onset" {
        #expect(open[label] == nil)
        open[label] = frame
      } else {
        let opened = open.removeValue(forKey: label)
        let start = try #require(opened)
        #expect(abs((event["duration"] as? Double ?? -1) - Double(frame - start) * 0.01) < 1e-9)
        online.append([names.firstIndex(of: label)!, start, frame])
      }
    }
    #expect(open.isEmpty && Set(online.map { $0[0] }) == [0, 1] && online.count >= 8)
    // The same parameters over the written probabilities, all at once.
    var parameters = EventParameters()
    parameters.labelThresholds = ["quiet": 0.6, "active": 0.45]
    parameters.labelOffThresholds = ["quiet": 0.55]
    parameters.offThreshold = 0.42
    parameters.medianFrames = 5
    parameters.minEventSeconds = 0.05
    parameters.minGapSeconds = 0.03
    let track = try records.map { record in
      let outputs = try #require(record["outputs"] as? [String: Double])
      return names.map { Float(outputs[$0]!) }
    }
    let offline = try offlineEvents(track: track, parameters: parameters, names: names, secondsPerFrame: 0.01)
    #expect(
      online.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) } == offline.map { [$0.label, $0.start, $0.end] })
  }

  @Test func eventOptionsAreCheckedInOneLine() throws {
    let csv = try streamrnn(["replay", demoSpeech, "--model", demoModel, "--events", "--format", "csv"])
    #expect(csv.status != 0 && csv.standardError.contains("--events writes JSON Lines events"))
    let label = try streamrnn([
      "replay", demoSpeech, "--model", demoModel, "--events", "--threshold", "dog=0.5",
    ])
    #expect(label.status != 0 && label.standardError.contains("no output labelled 'dog'"))
    let even = try streamrnn(["replay", demoSpeech, "--events", "--median-frames", "4"])
    #expect(even.status != 0 && even.standardError.contains("--median-frames 4 is out of range"))
    let alone = try streamrnn(["replay", demoSpeech, "--median-frames", "3"])
    #expect(alone.status != 0 && alone.standardError.contains("go with --events"))
  }

  @Test func theLiveReportEqualsTheReportOfTheSavedRun() throws {
    let id = UUID().uuidString
    let (records, stats, live, saved) = (
      temporaryPath("rec-\(id).jsonl"), temporaryPath("stats-\(id).json"), temporaryPath("live-\(id).html"),
      temporaryPath("saved-\(id).html")
    )
    let run = try streamrnn([
      "replay", bundledDemo, "--pace", "max", "--segments", "--out", records, "--stats-json", stats,
      "--report",
      live,
    ])
    #expect(run.status == 0, "\(run.standardError)")
    let report = try streamrnn(["report", stats, "--records", records, "--out", saved])
    #expect(report.status == 0, "\(report.standardError)")
    let html = try String(contentsOfFile: live, encoding: .utf8)
    #expect(try String(contentsOfFile: saved, encoding: .utf8) == html)
    // One lane; a band per segment, at its time; the waveform and the features were drawn.
    #expect(htmlAttributes(html, tag: "<g class=\"lane\"", name: "data-label") == ["speech"])
    let segments = try jsonLines(String(contentsOfFile: records, encoding: .utf8)).filter { $0["end"] != nil }
    #expect(segments.count == 4)
    let starts = segments.map { String(format: "%.3f", $0["start"] as! Double) }
    #expect(htmlAttributes(html, tag: "<rect class=\"band\"", name: "data-start") == starts)
    #expect(html.contains("<polygon class=\"wave\"") && html.contains("<image class=\"spectrogram\""))
    // Three histograms, each holding every frame.
    let frames = try #require(
      (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])?[
        "frames"] as? Int)
    let counts = htmlAttributes(html, tag: "<rect class=\"bin\"", name: "data-count").compactMap { Int($0) }
    #expect(counts.reduce(0, +) == 3 * frames)
    #expect(!html.contains("<script") && html.utf8.count < 600_000)
  }

  @Test func aQuietRunsSavedEventsAreDrawnWithoutCurves() throws {
    let id = UUID().uuidString
    let (records, stats, out) = (
      temporaryPath("quiet-\(id).jsonl"), temporaryPath("quiet-\(id).json"), temporaryPath("quiet-\(id).html")
    )
    let run = try streamrnn([
      "replay", bundledDemo, "--pace", "max", "--segments", "--quiet", "--out", records, "--stats-json",
      stats,
    ])
    #expect(run.status == 0, "\(run.standardError)")
    let report = try streamrnn(["report", stats, "--records", records, "--out", out])
    #expect(report.status == 0, "\(report.standardError)")
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(
      htmlAttributes(html, tag: "<rect class=\"band\"", name: "data-start") == [
        "1.026", "1.954", "5.730", "6.658",
      ])
    #expect(html.contains("only the events are drawn") && !html.contains("<polyline class=\"curve\""))
  }

  @Test func aSavedRunWithoutRecordsOrAudioSaysWhatIsMissing() throws {
    let id = UUID().uuidString
    let (stats, out) = (temporaryPath("stats-\(id).json"), temporaryPath("bare-\(id).html"))
    try Data(#"{"frames": 3, "run": {"source": "/nonexistent.wav", "labels": ["a"]}}"#.utf8).write(
      to: URL(fileURLWithPath: stats))
    let report = try streamrnn(["report", stats, "--out", out])
    #expect(report.status == 0, "\(report.standardError)")
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.contains("No audio was given") && html.contains("No records were given"))
    let bad = try streamrnn(["report", stats, "--records", stats, "--out", out])
    #expect(bad.status != 0 && bad.standardError.contains(":1: neither a frame record nor an event"))
    // An endless line is refused at 16 MiB, not read into memory whole.
    let long = temporaryPath("long-\(id).jsonl")
    try Data(
      ("{\"frame\":0,\"time\":0,\"outputs\":{\"a\":0.1}}\n" + String(repeating: "x", count: 17 << 20)).utf8
    )
    .write(to: URL(fileURLWithPath: long))
    let endless = try streamrnn(["report", stats, "--records", long, "--out", out])
    #expect(endless.status != 0 && endless.standardError.contains(":2: a line longer than 16777216 bytes"))
  }
}
