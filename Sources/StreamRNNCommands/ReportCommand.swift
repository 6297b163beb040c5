import ArgumentParser
import AudioFile
import BundledModels
import Features
import ModelIO
import Report

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn report`: the HTML report of a saved run.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Draw the HTML report of a saved run: its --stats-json, records and audio.",
    discussion: """
      Draws what `replay --report` draws live, from saved outputs: the statistics file \
      (`--stats-json`, whose "run" object names the model, features, audio and thresholds), the \
      JSON Lines records and events (`--out`, format jsonl), and the audio (--audio, or the \
      file the run read when it is still there). The heat map shows the model's features when \
      its file is found (--model, or the run's model path), else a 64-band log-mel of the audio.
      """)

  @Argument(help: "The run's statistics (written by --stats-json).")
  var stats: String

  @Option(help: "The run's JSON Lines records and events.")
  var records: String?

  @Option(help: "The audio the run read (default: the run's source file, if it exists).")
  var audio: String?

  @Option(help: "The model file, for its features (default: the run's model, if it is a file).")
  var model: String?

  @Option(help: "Write the report here.")
  var out: String

  @Option(parsing: .unconditional, help: "Draw at most this many output lanes, the most active (1 to 64).")
  var lanes = 8

  func validate() throws { try checkRange("--lanes", Double(lanes), 1...64) }

  func run() throws {
    var status = stat()
    if stat(stats, &status) == 0, status.st_size > 64 << 20 {
      throw CommandError(description: "\(stats): larger than 64 MiB: not a statistics file")
    }
    let bytes = try FileBytes.read(stats)
    guard let json = JSONValue.parse(bytes), json.object != nil else {
      throw CommandError(description: "\(stats): not a JSON object (give the file --stats-json wrote)")
    }
    let run: ReportRun
    do { run = try ReportRun(json: json.object?["run"]) } catch {
      throw CommandError(description: "\(stats): \(error)")
    }
    let builder = try ReportBuilder(spectrogram: try spectrogram(run))
    if let path = audioPath(run) {
      let stream = try MonoAudioStream(path: path, outputRate: run.sampleRate, channel: .mean)
      try stream.forEachBlock { builder.tap($0) }
    }
    var reader = RecordReader(builder: builder, run: run)
    if let records {
      guard let file = fopen(records, "r") else {
        throw CommandError(description: "\(records): cannot open: \(String(cString: strerror(errno)))")
      }
      defer { fclose(file) }
      // Lines are read into a buffer of fixed size: a hostile file's endless line is refused at
      // the limit the reader enforces anyway, not grown in memory first.
      let limit = RecordReader.maximumLineBytes
      let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: limit + 2)
      defer { buffer.deallocate() }
      while fgets(buffer.baseAddress, Int32(limit + 2), file) != nil {
        let length = strlen(buffer.baseAddress!)
        let text = UnsafeRawBufferPointer(start: buffer.baseAddress, count: length)
        guard text.last == 10 || length <= limit else {
          throw CommandError(description: "\(records):\(reader.lines + 1): a line longer than \(limit) bytes")
        }
        try reader.read(text.last == 10 ? text.dropLast() : text[...], file: records)
      }
      if ferror(file) != 0 { throw CommandError(description: "\(records): read failed") }
    } else {
      builder.begin(names: run.labels, secondsPerFrame: run.frameSeconds, speechLabel: run.speechLabel)
    }
    var data = try reportData(stats: json, builder: builder, laneLimit: lanes)
    if records == nil {
      data.notes.append("No records were given (--records): the outputs are not drawn.")
    } else if reader.frameRecords == 0 {
      data.notes.append(
        "The records hold no frame records (written with --quiet): only the events are drawn.")
    }
    try NpyArray.writeBytes(Array(HTMLReport.render(data).utf8), to: out)
  }

  /// `--audio`, or the run's source when it is a file that is still there.
  func audioPath(_ run: ReportRun) -> String? {
    if let audio { return audio }
    guard !run.source.isEmpty, access(run.source, R_OK) == 0 else { return nil }
    var status = stat()
    return stat(run.source, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? run.source : nil
  }

  /// The model's features when its file is known, else a log-mel of the audio.
  func spectrogram(_ run: ReportRun) throws -> (FeatureConfiguration, String) {
    let path = model ?? (access(run.model, R_OK) == 0 ? run.model : nil)
    if let path {
      let (_, features) = try ModelLoader.loadChain(path: path, weightStorage: .float32)
      if let features { return reportSpectrogramFeatures(for: features) }
    } else if run.model.hasPrefix(bundledModelName) {
      return reportSpectrogramFeatures(for: try BundledModels.sileroVAD().features)
    }
    return audioSpectrogramFeatures(sampleRate: run.sampleRate)
  }
}
