import Features
import Layers
import Pipeline
import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One worker thread: steps the sessions of its own slots. Everything it touches per frame was
/// allocated at open (the session's buffers) or at engine start (its scratch buffers and batch).
///
/// A pass visits the slots marked ready (``ready``: a push, a reset or close request, room made in a
/// blocked record queue, or work the worker itself left for the next pass), never the idle ones:
/// each session turns its queued audio into feature frames (at most one hop of audio while it has
/// no frame waiting), and every session with a frame waiting puts its oldest one in the batch; full
/// batches, and the last one of the pass, step together (``LayerChain/stepBatch(_:)``, bit for bit
/// what stepping each alone gives). Nothing waits for a batch to fill.
final class Worker: @unchecked Sendable {
  let index: Int
  /// This worker's slots, in a buffer of their own (an `Array` read may allocate in debug builds),
  /// unretained: the engine's ``StreamEngine/cells`` keeps them alive, and reading them costs no
  /// reference counting on the step path.
  let cells: UnsafeMutableBufferPointer<Unmanaged<SlotCell>>
  /// Which of ``cells`` hold a session (set when it opens, cleared when the delivery thread frees
  /// the slot), one bit per position: passes visit only these, so a pass costs the sessions open,
  /// not `maxSessions`.
  let occupied: UnsafeMutableBufferPointer<OccupancyWord>
  /// Positions of ``cells`` that may have work, one bit each: set by a push, a reset or close
  /// request, the delivery thread once it has made room in a record queue the worker found full
  /// (``Session/outputBlocked``), and the worker itself for a session with work left after its
  /// visit; a pass takes them word by word (exchange with 0), so an idle session costs nothing.
  let ready: UnsafeMutableBufferPointer<OccupancyWord>
  /// Positions of ``cells`` whose sessions have records to deliver or have ended: set by this
  /// worker, taken by the delivery thread.
  let deliverable: UnsafeMutableBufferPointer<OccupancyWord>
  let chain: LayerChain
  /// Sessions open on this worker (for choosing the least-loaded one at open).
  let load = Atomic<Int>(0)
  let wakeup = Wakeup()
  /// One hop of audio, read from a session's queue.
  let scratch: UnsafeMutableBufferPointer<Float>
  /// One solo step's outputs `[outputSize]` (a stream's end, a pending queue that overflows).
  let output: UnsafeMutableBufferPointer<Float>
  /// The learned frontend's working buffers, shared by all this worker's sessions (each keeps only
  /// its chunk input): they run on this thread only.
  let workspace: FeatureWorkspace?
  /// The frames of this pass, and their sessions (unretained: a session in the batch cannot end
  /// before the batch steps, so its slot is not freed).
  let batch: LayerChainBatch
  let batchSessions: UnsafeMutablePointer<Unmanaged<Session>>
  /// Learned-frontend chunks or log-mel frames computed together at most (``ConvFrontendExtractor/processDeferred``, ``LogMelExtractor/processDeferred``; 16 is also the batched FFT's width).
  static let frontendBatch = 16
  /// Sessions whose learned-frontend chunk waits and their extractors, up to ``frontendBatch``.
  /// Unretained, as ``batchSessions`` (each session holds its extractor).
  let frontendSessions: UnsafeMutablePointer<Unmanaged<Session>>
  let frontendExtractors: UnsafeMutablePointer<Unmanaged<ConvFrontendExtractor>>
  /// The same for log-mel frames (``LogMelExtractor/processDeferred(_:workspace:emit:)``): an
  /// engine's sessions all have one kind of features, so one of the two is used.
  let logMelExtractors: UnsafeMutablePointer<Unmanaged<LogMelExtractor>>
  /// Their positions in ``cells``.
  let frontendPositions: UnsafeMutablePointer<Int>
  private var frontendCount = 0
  /// Whether the pass left work for the next one (a session with more queued audio or frames).
  private var carried = false
  /// Sessions visited by passes so far (worker thread only; tests read it between manual passes).
  package private(set) var visits = 0
  // Batch counters (worker writes, anyone reads).
  /// Samples taken from its sessions' input queues.
  let consumedSamples = Atomic<Int>(0)
  let batches = Atomic<Int>(0)
  let batchedFrames = Atomic<Int>(0)
  let largestBatch = Atomic<Int>(0)
  let singleBatches = Atomic<Int>(0)
  /// The session being fed (read by ``queue(_:)``).
  private var current: Unmanaged<Session>?
  /// Whether this pass has queued a record (the delivery thread is woken once, at its end).
  private var emitted = false
  /// The delivery thread's wake-up (set at start).
  unowned(unsafe) var delivery: Wakeup?

  init(
    index: Int, cells: [SlotCell], chain: LayerChain, hop: Int, maxBatch: Int,
    workspace: FeatureWorkspace?
  ) {
    self.index = index
    self.workspace = workspace
    self.cells = .allocate(capacity: cells.count)
    _ = self.cells.initialize(from: cells.map { Unmanaged.passUnretained($0) })
    let words = (cells.count + 63) / 64
    occupied = .allocate(capacity: words)
    _ = occupied.initialize(from: (0..<words).map { _ in OccupancyWord() })
    ready = .allocate(capacity: words)
    _ = ready.initialize(from: (0..<words).map { _ in OccupancyWord() })
    deliverable = .allocate(capacity: words)
    _ = deliverable.initialize(from: (0..<words).map { _ in OccupancyWord() })
    self.chain = chain
    scratch = .allocate(capacity: max(1, hop))
    scratch.initialize(repeating: 0)
    output = .allocate(capacity: chain.outputSize)
    output.initialize(repeating: 0)
    batch = LayerChainBatch(chain: chain, capacity: maxBatch)
    batchSessions = .allocate(capacity: maxBatch)
    frontendSessions = .allocate(capacity: Self.frontendBatch)
    frontendExtractors = .allocate(capacity: Self.frontendBatch)
    logMelExtractors = .allocate(capacity: Self.frontendBatch)
    frontendPositions = .allocate(capacity: Self.frontendBatch)
  }

  deinit {
    cells.deinitialize().deallocate()
    occupied.deinitialize().deallocate()
    ready.deinitialize().deallocate()
    deliverable.deinitialize().deallocate()
    scratch.deallocate()
    output.deallocate()
    batchSessions.deallocate()
    frontendSessions.deallocate()
    frontendExtractors.deallocate()
    logMelExtractors.deallocate()
    frontendPositions.deallocate()
  }

  /// The worker thread's loop. A pass that left work (a session with more queued audio) is
  /// followed by the next at once. Otherwise, with ``EngineOptions/pollMicroseconds`` unset, the
  /// worker sleeps until a push marks a session ready (up to 2 ms); with it set, pushes do not wake
  /// it: it passes once per interval (a busy pass counts against the interval), so the sessions
  /// that became ready meanwhile step in one batch and no push pays for a wake-up.
  func run(engine: StreamEngine) {
    let poll = engine.options.pollMicroseconds.map { UInt64($0) * 1000 }
    while engine.running.load(ordering: .acquiring) {
      let start = monotonicNow()
      carried = false
      pass()
      if carried { continue }
      if let poll {
        let elapsed = monotonicNow() &- start
        guard elapsed < poll else { continue }
        wakeup.prepareToSleep()
        wakeup.sleep(nanoseconds: poll - elapsed)
      } else {
        wakeup.prepareToSleep()
        if ready.anySet() {
          wakeup.cancelSleep()
          continue
        }
        wakeup.sleep(nanoseconds: 2_000_000)
      }
    }
  }

  /// One pass over the slots marked ready; true when anything was done.
  @discardableResult
  func pass() -> Bool {
    var worked = false
    for word in 0..<ready.count {
      guard ready[word].bits.load(ordering: .relaxed) != 0 else { continue }
      var bits = ready[word].bits.exchange(0, ordering: .acquiringAndReleasing)
      while bits != 0 {
        let position = word << 6 | bits.trailingZeroBitCount
        bits &= bits &- 1
        if visit(position) { worked = true }
      }
    }
    if frontendCount > 0 { computeFrontends() }
    if batch.count > 0 { stepBatch() }
    // One wake-up of the delivery thread per pass, not per record: on a shared core every wake-up
    // is a context switch.
    if emitted {
      emitted = false
      delivery?.wake()
    }
    return worked
  }

  /// Marks `position` of ``cells`` ready (any thread; one atomic OR, no allocation or lock).
  @inline(__always)
  func markReady(_ position: Int) { ready.set(position) }

  /// Marks `position` ready and wakes the worker if it sleeps: a request (reset, close) that must
  /// not wait for the next poll.
  func signal(_ position: Int) {
    ready.set(position)
    wakeup.wake()
  }

  /// Marks `position` of ``cells`` for the delivery thread.
  @inline(__always)
  func markDeliverable(_ position: Int) { deliverable.set(position) }

  /// Marks position `position` of ``cells`` as holding a session (opening thread) or not
  /// (delivery thread).
  func setOccupied(_ position: Int, _ value: Bool) { occupied.set(position, value) }

  /// One slot of a pass: feeds its session and adds its oldest frame to the batch. The cell and the
  /// session are read unretained: a session stays in its cell until the delivery thread frees it,
  /// which waits for ``SlotCell/finishing``, which only this worker sets.
  ///
  /// The cell and the session are borrowed (`_withUnsafeGuaranteedRef`), not copied: a strong copy
  /// of an `unowned(unsafe)` reference is retained and released around each use, which a profile
  /// of 3,000 paced GRU sessions showed as a seventh of the process's time.
  @inline(__always)
  private func visit(_ position: Int) -> Bool {
    cells[position]._withUnsafeGuaranteedRef { cell in
      guard cell.state.load(ordering: .acquiring) == SlotCell.active, let reference = cell.sessionReference
      else {
        return false
      }
      return reference._withUnsafeGuaranteedRef { visit(cell, $0, reference, position) }
    }
  }

  @inline(__always)
  private func visit(_ cell: SlotCell, _ session: Session, _ reference: Unmanaged<Session>, _ position: Int)
    -> Bool
  {
    visits &+= 1
    var worked = feed(session)
    if session.hasDeferredFeatures {
      // Its chunk (or frame) is computed with the others' of this pass; then its frame joins the
      // batch.
      frontendSessions[frontendCount] = reference
      if let frontend = session.deferringFrontend {
        frontendExtractors[frontendCount] = .passUnretained(frontend)
      } else if let logMel = session.deferringLogMel {
        logMelExtractors[frontendCount] = .passUnretained(logMel)
      }
      frontendPositions[frontendCount] = position
      frontendCount += 1
      if frontendCount == Self.frontendBatch { computeFrontends() }
    } else {
      if enqueueStep(session) { worked = true }
      carryOver(session, position)
    }
    if session.ended.load(ordering: .relaxed) {
      cell.state.store(SlotCell.finishing, ordering: .releasing)
      markDeliverable(position)
      delivery?.wake()
    }
    return worked
  }

  /// After its visit: marks the session ready again when it has work left (more queued audio, frames
  /// waiting, a close to flush). When its record queue has no room for that work, it is left to the
  /// delivery thread, which marks it once it has made room (``Session/outputBlocked``).
  @inline(__always)
  private func carryOver(_ session: Session, _ position: Int) {
    let closing = session.closeRequested.load(ordering: .relaxed) && !session.ended.load(ordering: .relaxed)
    guard session.input.count > 0 || session.pendingCount > 0 || closing else { return }
    let needed = closing && session.pendingCount == 0 ? chain.lookahead + 8 : 3
    let ring = session.output
    if ring.capacity - ring.count < needed {
      session.outputBlocked.store(true, ordering: .relaxed)
      atomicMemoryFence(ordering: .sequentiallyConsistent)
      // The delivery thread may have drained the queue before it could see the flag.
      guard ring.capacity - ring.count >= needed else { return }
      session.outputBlocked.store(false, ordering: .relaxed)
    }
    markReady(position)
    carried = true
  }

  /// Puts the session's oldest waiting frame in the batch (stepping the batch when it fills), if it
  /// has one and its output queue has room. True when it did.
  @inline(__always)
  private func enqueueStep(_ session: Session) -> Bool {
    guard session.pendingCount > 0, session.output.capacity - session.output.count >= 3 else { return false }
    session.applyRequestedReset()
    batchSessions[batch.count] = .passUnretained(session)
    batch.append(session.state, input: session.oldestPending)
    session.popPending()
    if batch.count == batch.capacity { stepBatch() }
    return true
  }

  /// Computes the waiting learned-frontend chunks together, queues their frames in their sessions
  /// and puts each session's oldest frame in the batch. Every entry still waits: a session is
  /// visited (fed) once a pass, and the pass computes its chunks before it ends.
  private func computeFrontends() {
    let count = frontendCount
    frontendCount = 0
    // Each computed frame goes to its session's pending frames.
    func queueFrame(_ entry: Int, _ frame: UnsafeBufferPointer<Float>) {
      current = frontendSessions[entry]
      queue(frame)
    }
    if let workspace = workspace?.frontend {
      ConvFrontendExtractor.processDeferred(
        UnsafeBufferPointer(start: frontendExtractors, count: count), workspace: workspace, emit: queueFrame)
    } else if let workspace = workspace?.logMel {
      LogMelExtractor.processDeferred(
        UnsafeBufferPointer(start: logMelExtractors, count: count), workspace: workspace, emit: queueFrame)
    }
    current = nil
    for entry in 0..<count {
      frontendSessions[entry]._withUnsafeGuaranteedRef { session in
        _ = enqueueStep(session)
        carryOver(session, frontendPositions[entry])
      }
    }
  }

  /// Turns up to one hop of the session's queued audio into pending frames, when it has none
  /// waiting and its output queue has room; flushes the session when it is closing and everything
  /// it was sent has been stepped. (A session is never in an unstepped batch here: each is visited
  /// once a pass, and the pass steps its batch before it ends.)
  private func feed(_ session: Session) -> Bool {
    var worked = false
    let ring = session.output
    current = .passUnretained(session)
    if session.pendingCount == 0, ring.capacity - ring.count >= 3 {
      let count = session.input.read(into: scratch)
      if count > 0 {
        let start = session.consumedSamples
        session.consumedSamples += count
        consumedSamples.add(count, ordering: .relaxed)
        session.frameTime = session.handOverTime(upTo: session.consumedSamples)
        if session.pendingGap.load(ordering: .relaxed),
          session.pendingGap.exchange(false, ordering: .acquiring)
        {
          session.gapBeforeNext = true
        }
        session.pushToExtractor(UnsafeBufferPointer(rebasing: scratch[0..<count]), startingAt: start) {
          frame in
          queue(frame)
        }
        worked = true
      }
    }
    if session.pendingCount == 0, session.input.count == 0 {
      // A reset with no frame to come still takes effect now.
      session.applyRequestedReset()
    }
    if session.closeRequested.load(ordering: .acquiring), session.input.count == 0, session.pendingCount == 0,
      ring.capacity - ring.count >= chain.lookahead + 8
    {
      // The end of the stream: the extractor's last frames and the chain's lookahead, one by one.
      session.extractor.finish { frame in stepAlone(session, frame) }
      chain.finish(state: session.state, output: output) { values in
        chain.applyHeadActivation(values)
        emit(
          session, values, index: session.lastOutputIndex + chain.outputInterval, stepNanoseconds: 0,
          madeAt: monotonicNow())
      }
      session.ended.store(true, ordering: .releasing)
      worked = true
    }
    current = nil
    return worked
  }

  /// A frame from the current session's extractor: queued for the next batch. Should the queue be
  /// full (an extractor that made more frames from one hop than planned), its oldest frame is
  /// stepped alone first, so frames stay in order.
  @inline(__always)
  private func queue(_ frame: UnsafeBufferPointer<Float>) {
    current?._withUnsafeGuaranteedRef { session in
      if session.pendingCount == session.pendingCapacity {
        stepAlone(session, session.oldestPending)
        session.popPending()
      }
      session.pushPending(frame)
    }
  }

  /// Steps the batch and hands each produced record to its session's output queue.
  private func stepBatch() {
    let count = batch.count
    let start = monotonicNow()
    chain.stepBatch(batch)
    // One clock reading for the whole batch: its records were all made by then (a reading per
    // record cost about 3 % of a GRU frame).
    let end = monotonicNow()
    let elapsed = end &- start
    for entry in 0..<count {
      batchSessions[entry]._withUnsafeGuaranteedRef { session in
        session.frameIndex += 1
        if batch.producedOutput(entry) {
          let values = batch.output(entry)
          chain.applyHeadActivation(values)
          // With centred convolutions the output belongs to a frame `lookahead` frames back.
          emit(
            session, values, index: session.frameIndex - 1 - chain.lookahead, stepNanoseconds: elapsed,
            madeAt: end)
        }
      }
    }
    batch.removeAll()
    batches.add(1, ordering: .relaxed)
    batchedFrames.add(count, ordering: .relaxed)
    if count == 1 { singleBatches.add(1, ordering: .relaxed) }
    if count > largestBatch.load(ordering: .relaxed) { largestBatch.store(count, ordering: .relaxed) }
  }

  /// One frame of `session` through the model on its own (the end of a stream).
  private func stepAlone(_ session: Session, _ frame: UnsafeBufferPointer<Float>) {
    session.applyRequestedReset()
    let start = monotonicNow()
    let produced = chain.step(frame, state: session.state, output: output)
    session.frameIndex += 1
    guard produced else { return }
    chain.applyHeadActivation(output)
    let end = monotonicNow()
    emit(
      session, output, index: session.frameIndex - 1 - chain.lookahead, stepNanoseconds: end &- start,
      madeAt: end)
  }

  /// `values` as the session's record `index`. `stepNanoseconds`: the wall time of the (batched)
  /// step that made it; `madeAt`: when that step ended (monotonic ns; the record's push time).
  @inline(__always)
  private func emit(
    _ session: Session, _ values: UnsafeMutableBufferPointer<Float>, index: Int, stepNanoseconds: UInt64,
    madeAt: UInt64
  ) {
    session.lastOutputIndex = index
    let info = FrameInfo(
      index: index, captureTime: session.frameTime, pushTime: madeAt,
      discontinuity: session.gapBeforeNext,
      featureNanoseconds: stepNanoseconds, stateReset: session.resetBeforeNext)
    if session.output.producer.push(UnsafeBufferPointer(values), info: info) == .pushed {
      session.gapBeforeNext = false
      session.resetBeforeNext = false
    } else {
      session.droppedRecords += 1
    }
    markDeliverable(session.position)
    emitted = true
  }
}

/// The delivery thread: drains every session's records into its ``SessionDelivery``, ends the
/// sessions their workers have flushed (and frees their slots), and closes idle ones.
final class DeliveryLoop: @unchecked Sendable {
  let wakeup = Wakeup()

  func run(engine: StreamEngine) {
    let workers = UnsafeMutableBufferPointer<Worker>.allocate(capacity: engine.workers.count)
    _ = workers.initialize(from: engine.workers)
    defer { workers.deinitialize().deallocate() }
    let secondsPerFrame = Double(engine.features.hopLength) / Double(engine.features.sampleRate)
    let idleNanoseconds = engine.options.idleTimeout.map { UInt64($0 * 1e9) }
    var nextIdleCheck = monotonicNow()
    while engine.running.load(ordering: .acquiring) {
      var worked = false
      for worker in workers {
        for word in 0..<worker.deliverable.count {
          guard worker.deliverable[word].bits.load(ordering: .relaxed) != 0 else { continue }
          var bits = worker.deliverable[word].bits.exchange(0, ordering: .acquiringAndReleasing)
          while bits != 0 {
            let position = word << 6 | bits.trailingZeroBitCount
            bits &= bits &- 1
            unowned(unsafe) let cell = worker.cells[position].takeUnretainedValue()
            let state = cell.state.load(ordering: .acquiring)
            guard state == SlotCell.active || state == SlotCell.finishing,
              let reference = cell.sessionReference
            else { continue }
            unowned(unsafe) let session = reference.takeUnretainedValue()
            if drain(session, engine: engine, secondsPerFrame: secondsPerFrame) { worked = true }
            if state == SlotCell.finishing {
              end(session, engine: engine)
              cell.sessionReference = nil
              cell.session = nil
              engine.openSessions.subtract(1, ordering: .relaxed)
              worker.load.subtract(1, ordering: .relaxed)
              worker.setOccupied(position, false)
              cell.state.store(SlotCell.free, ordering: .releasing)
              worked = true
            }
          }
        }
      }
      let now = monotonicNow()
      if let idleNanoseconds, now >= nextIdleCheck {
        nextIdleCheck = now &+ 100_000_000
        for worker in workers { closeIdle(worker, after: idleNanoseconds, now: now) }
      }
      if worked { continue }
      wakeup.prepareToSleep()
      if workers.contains(where: { $0.deliverable.anySet() }) {
        wakeup.cancelSleep()
        continue
      }
      wakeup.sleep(nanoseconds: 1_000_000)
    }
  }

  /// Hands the session's queued records to its delivery; true when there were any. A request its
  /// delivery makes (reset, or close after a sink error), and room made in a queue the worker found
  /// full, mark the session ready for its worker.
  private func drain(_ session: Session, engine: StreamEngine, secondsPerFrame: Double) -> Bool {
    var any = false
    var requested = false
    while session.output.consumer.pop({ frame, info in
      let now = monotonicNow()
      let latency = info.captureTime > 0 && now > info.captureTime ? now &- info.captureTime : 0
      engine.latencies.record(latency)
      engine.deliveredRecords.add(1, ordering: .relaxed)
      guard let delivery = session.delivery else { return }
      let record = FrameRecord(
        index: info.index, time: Double(info.index) * secondsPerFrame, outputs: frame,
        stepMicroseconds: Double(info.featureNanoseconds) / 1000, latencyMicroseconds: Double(latency) / 1000,
        discontinuity: info.discontinuity, stateReset: info.stateReset)
      if delivery.deliver(record) {
        session.resetRequested.store(true, ordering: .releasing)
        requested = true
      }
      if delivery.error != nil, !session.closeRequested.load(ordering: .relaxed) {
        session.closeRequested.store(true, ordering: .releasing)
        requested = true
      }
    }) {
      any = true
    }
    if any { session.delivery?.endBatch() }
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    if requested || session.outputBlocked.load(ordering: .relaxed) {
      session.outputBlocked.store(false, ordering: .relaxed)
      session.worker.signal(session.position)
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

  private func closeIdle(_ worker: Worker, after limit: UInt64, now: UInt64) {
    for word in 0..<worker.occupied.count {
      var bits = worker.occupied[word].bits.load(ordering: .acquiring)
      while bits != 0 {
        let cell = worker.cells[word << 6 | bits.trailingZeroBitCount].takeUnretainedValue()
        bits &= bits &- 1
        guard cell.state.load(ordering: .acquiring) == SlotCell.active, let session = cell.session,
          !session.closeRequested.load(ordering: .relaxed)
        else { continue }
        let last = session.lastActivity.load(ordering: .relaxed)
        if now > last, now &- last > limit {
          session.closeRequested.store(true, ordering: .releasing)
          worker.signal(session.position)
        }
      }
    }
  }
}

/// 64 slots' bits — occupied, ready or deliverable (a class, so that a buffer of them can be shared
/// between threads).
final class OccupancyWord: @unchecked Sendable {
  let bits = Atomic<UInt64>(0)
}

extension UnsafeMutableBufferPointer where Element == OccupancyWord {
  /// Sets (or clears) slot `position`'s bit: one atomic OR (AND), any thread.
  @inline(__always)
  func set(_ position: Int, _ value: Bool = true) {
    let mask = UInt64(1) << UInt64(position & 63)
    if value {
      self[position >> 6].bits.bitwiseOr(mask, ordering: .releasing)
    } else {
      self[position >> 6].bits.bitwiseAnd(~mask, ordering: .releasing)
    }
  }

  /// Whether any slot's bit is set.
  func anySet() -> Bool {
    for word in self where word.bits.load(ordering: .acquiring) != 0 { return true }
    return false
  }
}
