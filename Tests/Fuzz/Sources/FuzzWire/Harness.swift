import WireProtocol

/// libFuzzer entry point: any bytes as a client's text message (config, reset, eof). Parsing
/// either gives a message whose values are in their documented ranges or one bounded, printable
/// error line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  do {
    let message = try ClientMessage.parse(UnsafeBufferPointer(start: data, count: size))
    if case .config(let config) = message {
      precondition(SessionConfig.sampleRates.contains(config.sampleRate), "sample rate in range")
      precondition((0...1).contains(config.segments.threshold), "threshold in range")
      precondition(config.session.map { (1...128).contains($0.utf8.count) } ?? true, "session id bounded")
      if let events = config.events {
        precondition((0...1).contains(events.threshold), "event threshold in range")
        precondition(events.medianFrames % 2 == 1 && (1...255).contains(events.medianFrames), "median odd")
        precondition(events.minEventSeconds >= 0 && events.minGapSeconds >= 0, "durations non-negative")
        for value in events.labelThresholds.values {
          precondition((0...1).contains(value), "label threshold")
        }
      }
    }
  } catch {
    let line = error.description
    precondition(line.unicodeScalars.count <= 201, "bounded error line")
    precondition(!line.unicodeScalars.contains { $0.value < 0x20 }, "printable error line")
  }
  return 0
}
