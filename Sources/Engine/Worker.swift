import Network
import Pipeline
import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One worker thread: steps the sessions of its own slots. Everything it touches per frame was
/// allocated at open (the session's buffers) or at engine start (its scratch buffers).
final class Worker: @unchecked Sendable {
  let index: Int
  /// This worker's slots, in a buffer of their own (an `Array` read may allocate in debug builds).
  let cells: UnsafeMutableBufferPointer<SlotCell>
  let chain: LayerChain
  /// Sessions open on this worker (for choosing the least-loaded one at open).
  let load = Atomic<Int>(0)
  let wakeup = Wakeup()
  /// One hop of audio, read from a session's queue.
  let scratch: UnsafeMutableBufferPointer<Float>
  /// One step's outputs `[outputSize]`.
  let output: UnsafeMutableBufferPointer<Float>
  /// The session being stepped and its block's hand-over time (read by ``step(_:)``).
  private unowned(unsafe) var current: Session?
  private var currentTime: UInt64 = 0
  /// The delivery thread's wake-up (set at start).
  unowned(unsafe) var delivery: Wakeup?

  init(index: Int, cells: [SlotCell], chain: LayerChain, hop: Int) {
    self.index = index
    self.cells = .allocate(capacity: cells.count)
    _ = self.cells.initialize(from: cells)
    self.chain = chain
    scratch = .allocate(capacity: max(1, hop))
    scratch.initialize(repeating: 0)
    output = .allocate(capacity: chain.outputSize)
    output.initialize(repeating: 0)
  }

  deinit {
    cells.deinitialize().deallocate()
    scratch.deallocate()
    output.deallocate()
  }

  /// The worker thread's loop: passes over its slots until the engine stops; sleeps (up to 2 ms,
  /// woken by a push) when a pass found nothing to do.
  func run(engine: StreamEngine) {
    while engine.running.load(ordering: .acquiring) {
      if pass() { continue }
      wakeup.prepareToSleep()
      if hasWork() {
        wakeup.cancelSleep()
        continue
      }
      wakeup.sleep(nanoseconds: 2_000_000)
    }
  }

  /// One pass over the slots; true when anything was done.
  func pass() -> Bool {
    var worked = false
    for position in 0..<cells.count {
      let cell = cells[position]
      guard cell.state.load(ordering: .acquiring) == SlotCell.active, let session = cell.session else {
        continue
      }
      if process(session) { worked = true }
      if session.ended.load(ordering: .relaxed) {
        cell.state.store(SlotCell.finishing, ordering: .releasing)
        delivery?.wake()
      }
    }
    return worked
  }

  /// Whether a pass would find anything (checked after announcing a sleep).
  private func hasWork() -> Bool {
    for position in 0..<cells.count {
      let cell = cells[position]
      guard cell.state.load(ordering: .acquiring) == SlotCell.active, let session = cell.session else {
        continue
      }
      if session.input.count > 0 || session.closeRequested.load(ordering: .relaxed)
        || session.resetRequested.load(ordering: .relaxed)
      {
        return true
      }
    }
    return false
  }

  /// Steps what the session has queued while its output queue has room; flushes it when it is
  /// closing and its queue is empty.
  private func process(_ session: Session) -> Bool {
    var worked = false
    let ring = session.output
    current = session
    while ring.capacity - ring.count >= 3 {
      let count = session.input.read(into: scratch)
      guard count > 0 else { break }
      session.consumedSamples += count
      currentTime = session.handOverTime(upTo: session.consumedSamples)
      if session.pendingGap.load(ordering: .relaxed), session.pendingGap.exchange(false, ordering: .acquiring)
      {
        session.gapBeforeNext = true
      }
      session.extractor.push(UnsafeBufferPointer(rebasing: scratch[0..<count])) { frame in step(frame) }
      worked = true
    }
    if session.resetRequested.load(ordering: .relaxed), session.input.count == 0 {
      // A reset with no frame to come still takes effect now.
      if session.resetRequested.exchange(false, ordering: .acquiring) { session.state.reset() }
    }
    if session.closeRequested.load(ordering: .acquiring), session.input.count == 0,
      ring.capacity - ring.count >= chain.lookahead + 8
    {
      session.extractor.finish { frame in step(frame) }
      chain.finish(state: session.state, output: output) { values in
        chain.applyHeadActivation(values)
        emit(session, index: session.lastOutputIndex + chain.outputInterval, stepNanoseconds: 0)
      }
      session.ended.store(true, ordering: .releasing)
      worked = true
    }
    current = nil
    return worked
  }

  /// One feature frame of the current session through the model.
  @inline(__always)
  private func step(_ frame: UnsafeBufferPointer<Float>) {
    guard let session = current else { return }
    if session.resetRequested.load(ordering: .relaxed),
      session.resetRequested.exchange(false, ordering: .acquiring)
    {
      session.state.reset()
    }
    let start = monotonicNow()
    let produced = chain.step(frame, state: session.state, output: output)
    session.frameIndex += 1
    guard produced else { return }
    chain.applyHeadActivation(output)
    // With centred convolutions the output belongs to a frame `lookahead` frames back.
    emit(session, index: session.frameIndex - 1 - chain.lookahead, stepNanoseconds: monotonicNow() &- start)
  }

  /// The output buffer as the session's record `index`.
  @inline(__always)
  private func emit(_ session: Session, index: Int, stepNanoseconds: UInt64) {
    session.lastOutputIndex = index
    let info = FrameInfo(
      index: index, captureTime: currentTime, pushTime: monotonicNow(), discontinuity: session.gapBeforeNext,
      featureNanoseconds: stepNanoseconds)
    if session.output.producer.push(UnsafeBufferPointer(output), info: info) == .pushed {
      session.gapBeforeNext = false
    } else {
      session.droppedRecords += 1
    }
    delivery?.wake()
  }
}

/// The delivery thread: drains every session's records into its ``SessionDelivery``, ends the
/// sessions their workers have flushed (and frees their slots), and closes idle ones.
final class DeliveryLoop: @unchecked Sendable {
  let wakeup = Wakeup()

  func run(engine: StreamEngine) {
    let cells = UnsafeMutableBufferPointer<SlotCell>.allocate(capacity: engine.cells.count)
    _ = cells.initialize(from: engine.cells)
    defer { cells.deinitialize().deallocate() }
    let secondsPerFrame = Double(engine.features.hopLength) / Double(engine.features.sampleRate)
    let idleNanoseconds = engine.options.idleTimeout.map { UInt64($0 * 1e9) }
    var nextIdleCheck = monotonicNow()
    while engine.running.load(ordering: .acquiring) {
      var worked = false
      for position in 0..<cells.count {
        let cell = cells[position]
        let state = cell.state.load(ordering: .acquiring)
        guard state == SlotCell.active || state == SlotCell.finishing, let session = cell.session else {
          continue
        }
        if drain(session, engine: engine, secondsPerFrame: secondsPerFrame) { worked = true }
        if state == SlotCell.finishing {
          end(session, engine: engine)
          cell.session = nil
          engine.openSessions.subtract(1, ordering: .relaxed)
          cell.worker.load.subtract(1, ordering: .relaxed)
          cell.state.store(SlotCell.free, ordering: .releasing)
          worked = true
        }
      }
      let now = monotonicNow()
      if let idleNanoseconds, now >= nextIdleCheck {
        nextIdleCheck = now &+ 100_000_000
        closeIdle(cells, after: idleNanoseconds, now: now)
      }
      if worked { continue }
      wakeup.prepareToSleep()
      wakeup.sleep(nanoseconds: 1_000_000)
    }
  }

  /// Hands the session's queued records to its delivery; true when there were any.
  private func drain(_ session: Session, engine: StreamEngine, secondsPerFrame: Double) -> Bool {
    var any = false
    while session.output.consumer.pop({ frame, info in
      let now = monotonicNow()
      let latency = info.captureTime > 0 && now > info.captureTime ? now &- info.captureTime : 0
      engine.latencies.record(latency)
      engine.deliveredRecords.add(1, ordering: .relaxed)
      guard let delivery = session.delivery else { return }
      let record = FrameRecord(
        index: info.index, time: Double(info.index) * secondsPerFrame, outputs: frame,
        stepMicroseconds: Double(info.featureNanoseconds) / 1000, latencyMicroseconds: Double(latency) / 1000,
        discontinuity: info.discontinuity)
      if delivery.deliver(record) { session.resetRequested.store(true, ordering: .releasing) }
      if delivery.error != nil { session.closeRequested.store(true, ordering: .releasing) }
    }) {
      any = true
    }
    return any
  }

  /// The end of a session its worker has flushed: the delivery's end, then the summary.
  private func end(_ session: Session, engine: StreamEngine) {
    let summary = SessionSummary(
      id: session.id, samples: session.consumedSamples, frames: session.frameIndex,
      droppedSamples: session.droppedSamples.load(ordering: .relaxed), droppedRecords: session.droppedRecords)
    session.delivery?.end(summary)
    session.summary = session.delivery?.summary ?? summary
    session.delivered.store(true, ordering: .releasing)
  }

  private func closeIdle(_ cells: UnsafeMutableBufferPointer<SlotCell>, after limit: UInt64, now: UInt64) {
    for position in 0..<cells.count {
      let cell = cells[position]
      guard cell.state.load(ordering: .acquiring) == SlotCell.active, let session = cell.session,
        !session.closeRequested.load(ordering: .relaxed)
      else { continue }
      let last = session.lastActivity.load(ordering: .relaxed)
      if now > last, now &- last > limit {
        session.closeRequested.store(true, ordering: .releasing)
        cell.worker.wakeup.wake()
      }
    }
  }
}
