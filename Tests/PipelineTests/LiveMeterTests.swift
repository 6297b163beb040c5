import AllocationCounter
import Pipeline
import StreamCore
import Testing

@Suite("The live meter's screen")
struct LiveMeterTests {
  func record(_ index: Int, _ outputs: UnsafeBufferPointer<Float>) -> FrameRecord {
    FrameRecord(
      index: index, time: Double(index) * 0.032, outputs: outputs, stepMicroseconds: 1,
      latencyMicroseconds: 2,
      discontinuity: false)
  }

  @Test func linesShowLevelBarsAndTheSpeechState() throws {
    let meter = LiveMeter(screen: TerminalStatusLine())
    try meter.begin(
      StreamDescription(
        sampleRate: 16000, hopLength: 512, outputCount: 1, labels: ["speech"], independentProbabilities: true)
    )
    // A full-scale block (RMS 0 dB, clipping) between two quiet ones: the loudest one shows.
    [Float](repeating: 0.01, count: 512).withUnsafeBufferPointer { meter.tap($0) }
    [Float](repeating: 1, count: 512).withUnsafeBufferPointer { meter.tap($0) }
    [Float](repeating: 0.01, count: 512).withUnsafeBufferPointer { meter.tap($0) }
    for index in 0..<50 {
      let value: Float = index < 10 ? 0.1 : 0.9
      _ = [value].withUnsafeBufferPointer { meter.observe(record(index, $0)) { _ in } }
    }
    let lines = meter.lines(frames: 50, dropped: 2, xruns: 1, p99Milliseconds: 1.5)
    #expect(lines[0].contains("frames 50") && lines[0].contains("dropped 2") && lines[0].contains("xruns 1"))
    #expect(lines[0].contains("p99 1.50 ms") && lines[0].contains("1.6 s"))
    #expect(lines[1].hasPrefix("input") && lines[1].contains("0.0 dB") && lines[1].hasSuffix("CLIPPING"))
    #expect(lines[1].contains(String(repeating: "█", count: 30)))
    // Speech since frame 10 (0.32 s) until the end of frame 49 (1.6 s): 1.28 s.
    #expect(lines[2].hasPrefix("speech") && lines[2].contains("0.900") && lines[2].hasSuffix("SPEECH 1.3 s"))
    #expect(lines[2].contains(String(repeating: "█", count: 27) + String(repeating: "░", count: 3)))
    // Below the off threshold (0.35) it reads silence; the level starts again from the next block.
    _ = [Float(0.2)].withUnsafeBufferPointer { meter.observe(record(50, $0)) { _ in } }
    [Float](repeating: 0.01, count: 512).withUnsafeBufferPointer { meter.tap($0) }
    let next = meter.lines(frames: 51, dropped: 0, xruns: 0, p99Milliseconds: 0)
    #expect(
      next[2].hasSuffix("silence 0.0 s") && next[1].contains("-40.0 dB") && !next[1].hasSuffix("CLIPPING"))
  }

  @Test func manyClassModelsShowTheirMostProbableLabels() throws {
    let meter = LiveMeter(screen: TerminalStatusLine(), maxLabels: 3)
    let labels = (0..<10).map { "class\($0)" }
    try meter.begin(
      StreamDescription(
        sampleRate: 16000, hopLength: 160, outputCount: 10, labels: labels, independentProbabilities: false))
    let outputs: [Float] = [0.01, 0.3, 0.02, 0.05, 0.4, 0.02, 0.1, 0.03, 0.05, 0.02]
    _ = outputs.withUnsafeBufferPointer { meter.observe(record(0, $0)) { _ in } }
    let lines = meter.lines(frames: 1, dropped: 0, xruns: 0, p99Milliseconds: 0)
    #expect(lines.count == 6)
    #expect(lines[2].hasPrefix("class4") && lines[3].hasPrefix("class1") && lines[4].hasPrefix("class6"))
    #expect(lines[5] == "(7 more outputs below these)")
  }

  @Test func observingAndTappingAllocateNothing() throws {
    let meter = LiveMeter(screen: TerminalStatusLine())
    try meter.begin(
      StreamDescription(
        sampleRate: 16000, hopLength: 512, outputCount: 2, labels: ["speech", "music"],
        independentProbabilities: true))
    let block = [Float](repeating: 0.25, count: 512)
    let outputs: [Float] = [0.7, 0.2]
    // Warm up once, then count.
    block.withUnsafeBufferPointer { meter.tap($0) }
    _ = outputs.withUnsafeBufferPointer { meter.observe(record(0, $0)) { _ in } }
    let allocations = block.withUnsafeBufferPointer { samples in
      outputs.withUnsafeBufferPointer { values in
        allocation_counter_start()
        for index in 1..<1000 {
          meter.tap(samples)
          _ = meter.observe(record(index, values)) { _ in }
        }
        return allocation_counter_stop()
      }
    }
    #expect(allocations == 0)
  }
}
