// Many streams through one model: N sessions of a StreamEngine run the bundled Silero VAD over the
// bundled recording, each starting at its own place, and write their segments to DIR/call-N.jsonl.
//
//   swift run -c release EngineExample [SESSIONS (default 8)] [DIR (default .)]
import BundledModels
import Engine
import Layers
import Pipeline

#if canImport(Glibc)
  import Glibc
#endif

let arguments = CommandLine.arguments
let sessions = arguments.count > 1 ? Int(arguments[1]) ?? 8 : 8
let folder = arguments.count > 2 ? arguments[2] : "."
do {
  let vad = try BundledModels.sileroVAD()
  let chain = try LayerChain(
    layers: [.recurrent(vad.model)], headActivation: vad.model.head?.activation ?? .none,
    labels: vad.model.head?.labels)
  var options = EngineOptions()  // threads: one per core; maxSessions 1024; maxBatch 32
  options.idleTimeout = 30  // seconds without audio → the session is closed
  let engine = try StreamEngine(model: chain, features: vad.features, options: options)
  try engine.start()
  defer { engine.stop() }
  let calls = try (0..<sessions).map { index in
    try engine.open(
      id: "call-\(index)",
      delivery: SessionDelivery(
        observers: [SegmentObserver()], sink: JSONLinesSink(path: "\(folder)/call-\(index).jsonl"),
        quiet: true))
  }
  // Every call sends the recording from its own offset in 20 ms blocks, round-robin; tryPush leaves
  // a block that does not fit to the caller, so nothing is dropped.
  let audio = try BundledModels.demoSpeech()
  let block = 320
  var sent = [Int](repeating: 0, count: sessions)
  try audio.withUnsafeBufferPointer { all in
    while sent.contains(where: { $0 < all.count }) {
      for (index, call) in calls.enumerated() where sent[index] < all.count {
        let start = (index * 16_000 + sent[index]) % all.count
        let count = min(block, all.count - sent[index], all.count - start)
        if try engine.tryPush(call, UnsafeBufferPointer(rebasing: all[start..<(start + count)])) == .pushed {
          sent[index] += count
        } else {
          usleep(1000)
        }
      }
    }
  }
  for call in calls { try engine.close(call) }
  for call in calls {
    engine.waitUntilClosed(call)
    if let summary = engine.summary(call) {
      print("\(summary.id): \(summary.frames) frames, \(summary.droppedSamples) samples dropped")
    }
  }
  print("batches: \(engine.batchStatistics)")
} catch {
  print("error: \(error)")
}
