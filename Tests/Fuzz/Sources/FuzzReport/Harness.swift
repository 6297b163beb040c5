import ModelIO
import Pipeline
import Report

/// libFuzzer entry point: any bytes as saved outputs for `streamrnn report`: read line by line as
/// JSON Lines records and events, and whole as the statistics (with a `run` object); whatever is
/// accepted is drawn. Either a page is drawn or a bounded, printable error line comes back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = UnsafeBufferPointer(start: data, count: size)
  func check(_ error: ReportError) {
    precondition(error.description.unicodeScalars.count <= 300, "bounded error line")
  }
  do {
    let builder = try ReportBuilder(spectrogram: audioSpectrogramFeatures(sampleRate: 8000))
    var run = ReportRun()
    run.labels = ["speech", "dog"]
    run.frameSeconds = 0.01
    var reader = RecordReader(builder: builder, run: run)
    for line in bytes.split(separator: 10, omittingEmptySubsequences: false) {
      do { try reader.read(line, file: "records.jsonl") } catch {
        check(error)
        break
      }
    }
    // The statistics: the bytes themselves, or an empty object when they are not JSON.
    let stats = JSONValue.parse(bytes) ?? .object([:])
    do {
      let page = HTMLReport.render(try reportData(stats: stats, builder: builder))
      precondition(!page.contains("<script"), "no script in a drawn page")
    } catch { check(error) }
  } catch {
    preconditionFailure("the report builder could not be made: \(error)")
  }
  return 0
}
