import Features
import Layers
import Pipeline
import StreamCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The engine's settings, checked by ``validate()``.
public struct EngineOptions: Sendable {
  /// Worker threads, each owning a disjoint set of sessions (1 to 256; default: one per core).
  public var threads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  /// Session slots, made at start (1 to 1,048,576).
  public var maxSessions = 1024
  /// Samples each session's input queue holds (a power of two, 1,024 to 2^24; default 32,768:
  /// about 2 s at 16 kHz). A block that does not fit is dropped whole and counted.
  public var queueSamples = 32_768
  /// Records each session's output queue holds (a power of two, 16 to 65,536; raised to fit the
  /// model's lookahead). A full queue holds the session's input back, never drops a record.
  public var outputFrames = 32
  /// Seconds without audio after which a session is closed (its final results delivered); nil:
  /// never.
  public var idleTimeout: Double?
  /// Frames a worker steps together at most (1 to 256; default 32): at each pass a worker takes one
  /// frame from every session that has one ready and steps them as batches of up to this many
  /// (``LayerChain/stepBatch(_:)``: one pass over the weights for the whole batch, results equal to
  /// stepping each alone bit for bit). It never waits to fill a batch. 1 steps sessions one by one.
  public var maxBatch = 32
  /// nil (default): a push wakes its session's worker at once, for the lowest latency. A number of
  /// microseconds (100 to 100,000): pushes wake nobody; each worker passes over its ready sessions
  /// once per interval (at once again while a backlog remains) — with hundreds of sessions pushing
  /// small blocks, this saves a wake-up (a context switch) per push and steps the sessions that
  /// became ready in one batch, at the cost of up to that much added latency. `streamrnn serve` uses
  /// 2,000, `streamrnn bench --streams` 1,000 (`--poll-us`).
  public var pollMicroseconds: Int?

  /// Tests only: ``StreamEngine/start()`` starts no worker thread; the test steps the sessions with
  /// ``StreamEngine/workerPass(_:)`` on its own thread (to count its allocations).
  package var manualWorkers = false

  /// Defaults.
  public init() {}

  /// Checks every value against its range.
  /// - Throws: ``StreamError/invalidOption(name:value:allowed:)`` naming the option.
  public func validate() throws(StreamError) {
    func powerOfTwo(_ value: Int, _ range: ClosedRange<Int>) -> Bool {
      range.contains(value) && value & (value - 1) == 0
    }
    guard (1...256).contains(threads) else {
      throw .invalidOption(name: "threads", value: "\(threads)", allowed: "1 to 256")
    }
    guard (1...1_048_576).contains(maxSessions) else {
      throw .invalidOption(name: "max sessions", value: "\(maxSessions)", allowed: "1 to 1048576")
    }
    guard powerOfTwo(queueSamples, 1024...(1 << 24)) else {
      throw .invalidOption(
        name: "queue samples", value: "\(queueSamples)", allowed: "a power of two from 1024 to 16777216")
    }
    guard powerOfTwo(outputFrames, 16...65_536) else {
      throw .invalidOption(
        name: "output frames", value: "\(outputFrames)", allowed: "a power of two from 16 to 65536")
    }
    guard (1...256).contains(maxBatch) else {
      throw .invalidOption(name: "max batch", value: "\(maxBatch)", allowed: "1 to 256")
    }
    if let pollMicroseconds, !(100...100_000).contains(pollMicroseconds) {
      throw .invalidOption(name: "poll interval", value: "\(pollMicroseconds)", allowed: "100 to 100000 µs")
    }
    if let idleTimeout, !(idleTimeout > 0 && idleTimeout <= 86_400) {
      throw .invalidOption(name: "idle timeout", value: "\(idleTimeout)", allowed: "0 < s ≤ 86400 seconds")
    }
  }
}

/// Batched steps of a ``StreamEngine``'s workers: how many, and how full.
public struct BatchStatistics: Sendable, Equatable {
  /// Batched steps taken (each advances one frame of every session in it).
  public var batches = 0
  /// Frames stepped in them.
  public var frames = 0
  /// The largest batch.
  public var largest = 0
  /// Batches of one frame.
  public var single = 0
  /// Frames per batch on average (0 before the first).
  public var meanSize: Double { batches > 0 ? Double(frames) / Double(batches) : 0 }
}

/// Why the engine refused a call.
public enum EngineError: Error, Equatable, CustomStringConvertible {
  /// Every session slot is taken.
  case tooManySessions(Int)
  /// The handle's session has ended (or the engine has stopped).
  case unknownSession
  /// The session's feature extractor or delivery could not start (one line).
  case sessionFailed(String)

  /// One line.
  public var description: String {
    switch self {
    case .tooManySessions(let count): "all \(count) session slots are in use"
    case .unknownSession: "no such session (closed, or the engine has stopped)"
    case .sessionFailed(let text): "the session could not start: \(text)"
    }
  }
}

/// Many concurrent audio streams through one loaded model: each session owns its state (recurrent
/// `h`/`c`, convolution histories, feature extractor context) and nothing else; the weights are
/// shared.
///
/// - ``open(id:delivery:)``, ``push(_:_:captureTime:)``, ``reset(_:)`` and ``close(_:)`` may be
///   called from any thread; each session's pushes must come from one thread at a time (its input
///   queue is single-producer).
/// - Worker threads (``EngineOptions/threads``) each own the sessions in the slots `i` with
///   `i % threads == worker` (a new session takes a free slot of the least-loaded worker): no state
///   is shared between workers, and the step path takes no lock, allocates nothing, does no I/O
///   (a test counts allocations with 1,000 sessions open). A full input queue drops the pushed
///   block whole and counts it; a full output queue holds the session's input back (a
///   lookahead-free session's results are never dropped while its consumer keeps up).
/// - One delivery thread drains every session's results into its ``SessionDelivery`` (observers,
///   sink), closes idle sessions, and frees the slots of ended ones.
///
/// Memory per session is fixed at open: the input queue, the output queue, the feature extractor
/// and the chain state (measured by `streamrnn bench --streams`).
public final class StreamEngine: @unchecked Sendable {
  /// The model, shared by every session.
  public let chain: LayerChain
  /// The features every session computes.
  public let features: FeatureConfiguration
  /// The settings.
  public let options: EngineOptions
  /// What every session's records look like.
  public let description: StreamDescription
  let outputFrames: Int
  /// Feature frames a session holds between its extractor and its next (batched) step: what one
  /// hop of audio can make, plus room.
  let pendingFrames: Int
  /// Makes each session's extractor, sharing a learned frontend's packed weights.
  let extractors: FeatureExtractorFactory
  let cells: [SlotCell]
  let workers: [Worker]
  let delivery: DeliveryLoop
  private var threads: [JoinableThread] = []
  let running = Atomic<Bool>(false)
  let openLock = Mutex<Void>(())
  /// The session's counters once it has ended (after ``waitUntilClosed(_:)``), else nil.
  public func summary(_ handle: SessionHandle) -> SessionSummary? {
    handle.session.delivered.load(ordering: .acquiring) ? handle.session.summary : nil
  }

  /// Tests only (``EngineOptions/manualWorkers``): one pass of worker `index` on the calling thread;
  /// true when it did anything.
  package func workerPass(_ index: Int) -> Bool { workers[index].pass() }

  /// Tests only: sessions worker `index` has visited so far.
  package func workerVisits(_ index: Int) -> Int { workers[index].visits }

  /// Every session's latency (audio handed over → result delivered), delivery thread only.
  var latencies = LatencyRecorder()
  /// Records delivered by all sessions (delivery thread writes).
  public let deliveredRecords = Atomic<Int>(0)
  /// Samples dropped by all sessions' full input queues.
  public let droppedSamples = Atomic<Int>(0)
  /// Sessions open now.
  public let openSessions = Atomic<Int>(0)
  /// Samples accepted into input queues so far (all sessions).
  let pushedSamples = Atomic<Int>(0)

  /// Samples waiting in the sessions' input queues now (all sessions; a snapshot, any thread).
  public var queuedSamples: Int {
    let consumed = workers.reduce(0) { $0 + $1.consumedSamples.load(ordering: .relaxed) }
    return max(0, pushedSamples.load(ordering: .relaxed) - consumed)
  }

  /// How the workers have batched their steps so far (counters read now; any thread).
  public var batchStatistics: BatchStatistics {
    var statistics = BatchStatistics()
    for worker in workers {
      statistics.batches += worker.batches.load(ordering: .relaxed)
      statistics.frames += worker.batchedFrames.load(ordering: .relaxed)
      statistics.largest = max(statistics.largest, worker.largestBatch.load(ordering: .relaxed))
      statistics.single += worker.singleBatches.load(ordering: .relaxed)
    }
    return statistics
  }

  /// Checks that the model takes these features and that the options are in range, and makes the
  /// session slots (no session buffer yet). Call ``start()`` before opening sessions.
  /// - Throws: ``StreamError``.
  public init(model: LayerChain, features: FeatureConfiguration, options: EngineOptions = EngineOptions())
    throws(StreamError)
  {
    guard model.inputSize == features.featureCount else {
      throw .inputSizeMismatch(modelInputs: model.inputSize, featureCount: features.featureCount)
    }
    try options.validate()
    do {
      extractors = try FeatureExtractorFactory(features)
    } catch {
      throw .invalidOption(name: "features", value: "\(features)", allowed: error.description)
    }
    chain = model
    self.features = features
    self.options = options
    var frames = options.outputFrames
    while frames < model.lookahead + 16 { frames *= 2 }
    outputFrames = frames
    if case .learned(let frontend) = features {
      pendingFrames = frontend.framesPerChunk
    } else {
      pendingFrames = 2
    }
    description = StreamDescription(
      sampleRate: features.sampleRate, hopLength: features.hopLength * model.outputInterval,
      outputCount: model.outputSize, labels: model.labels,
      independentProbabilities: model.headActivation == .sigmoid)
    let cells = (0..<options.maxSessions).map { _ in SlotCell() }
    self.cells = cells
    let threadCount = min(options.threads, options.maxSessions)
    var workers: [Worker] = []
    for index in 0..<threadCount {
      let own = stride(from: index, to: options.maxSessions, by: threadCount).map { cells[$0] }
      workers.append(
        Worker(
          index: index, cells: own, chain: model, hop: features.hopLength, maxBatch: options.maxBatch,
          workspace: extractors.makeWorkspace(chunks: Worker.frontendBatch)))
    }
    self.workers = workers
    delivery = DeliveryLoop()
    for (index, cell) in cells.enumerated() { cell.worker = workers[index % threadCount] }
  }

  /// Starts the workers and the delivery thread.
  /// - Throws: ``StreamError/threadFailed(function:code:)``.
  public func start() throws(StreamError) {
    guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
    do {
      for worker in workers where !options.manualWorkers {
        threads.append(try JoinableThread { [worker, self] in worker.run(engine: self) })
      }
      for worker in workers { worker.delivery = delivery.wakeup }
      threads.append(try JoinableThread { [self] in delivery.run(engine: self) })
    } catch let error as StreamError {
      stop()
      throw error
    } catch {
      stop()
      throw .threadFailed(function: "pthread_create", code: -1)
    }
  }

  /// Stops the threads (sessions still open are dropped without their final results) and waits.
  public func stop() {
    running.store(false, ordering: .releasing)
    for worker in workers { worker.wakeup.wake() }
    delivery.wakeup.wake()
    for thread in threads { thread.join() }
    threads = []
  }

  deinit { stop() }

  /// Opens a session: takes a free slot on the least-loaded worker, allocates the session's
  /// queues, extractor and state here (on the calling thread), and calls the delivery's `begin`.
  /// - Parameter id: A name for logs and summaries (default: the slot number).
  /// - Throws: ``EngineError``.
  public func open(id: String? = nil, delivery target: SessionDelivery? = nil) throws(EngineError)
    -> SessionHandle
  {
    guard running.load(ordering: .acquiring) else { throw .unknownSession }
    // Claim a slot (a short lock: opening is not on the step path).
    let claimed: (cell: SlotCell, index: Int)? = openLock.withLock { _ in
      let order = workers.indices.sorted {
        workers[$0].load.load(ordering: .relaxed) < workers[$1].load.load(ordering: .relaxed)
      }
      for worker in order {
        for index in stride(from: worker, to: cells.count, by: workers.count) {
          let cell = cells[index]
          if cell.state.compareExchange(
            expected: SlotCell.free, desired: SlotCell.opening, ordering: .acquiringAndReleasing
          ).exchanged {
            workers[worker].load.add(1, ordering: .relaxed)
            return (cell, index)
          }
        }
      }
      return nil
    }
    guard let (cell, index) = claimed else { throw .tooManySessions(cells.count) }
    let session: Session
    do {
      session = try Session(
        id: id ?? "session-\(index)", chain: chain, features: extractors, queueSamples: options.queueSamples,
        outputFrames: outputFrames, pendingFrames: pendingFrames, worker: cell.worker,
        position: index / workers.count, delivery: target)
      try target?.begin(description)
    } catch {
      cell.worker.load.subtract(1, ordering: .relaxed)
      cell.state.store(SlotCell.free, ordering: .releasing)
      throw .sessionFailed("\(error)")
    }
    cell.session = session
    cell.sessionReference = Unmanaged.passUnretained(session)
    let generation = cell.generation.add(1, ordering: .relaxed).newValue
    openSessions.add(1, ordering: .relaxed)
    cell.state.store(SlotCell.active, ordering: .releasing)
    cell.worker.setOccupied(index / workers.count, true)
    return SessionHandle(slot: index, generation: generation, session: session)
  }

  /// The session behind `handle` if it is still open (not closing).
  private func session(_ handle: SessionHandle) -> Session? {
    let session = handle.session
    guard running.load(ordering: .relaxed), !session.closeRequested.load(ordering: .acquiring),
      !session.ended.load(ordering: .acquiring)
    else { return nil }
    return session
  }

  /// Hands `samples` (mono, at the features' rate) to the session, handed over at `captureTime`
  /// (monotonic ns; latency is measured from it). A block that does not fit the session's input
  /// queue is dropped whole and counted, and the next frame is marked as a discontinuity; returns
  /// `.full` then. Does not allocate or lock.
  /// - Throws: ``EngineError/unknownSession``.
  @discardableResult
  public func push(
    _ handle: SessionHandle, _ samples: UnsafeBufferPointer<Float>, captureTime: UInt64 = monotonicNow()
  )
    throws(EngineError) -> PushResult
  {
    guard let session = session(handle) else { throw .unknownSession }
    if offer(session, handle, samples, captureTime) == .pushed { return .pushed }
    session.droppedSamples.add(samples.count, ordering: .relaxed)
    droppedSamples.add(samples.count, ordering: .relaxed)
    session.pendingGap.store(true, ordering: .releasing)
    return .full
  }

  /// Like ``push(_:_:captureTime:)``, but a block that does not fit is neither dropped nor counted:
  /// the caller keeps it and tries again (replay as fast as possible, where nothing may be lost).
  /// - Throws: ``EngineError/unknownSession``.
  public func tryPush(
    _ handle: SessionHandle, _ samples: UnsafeBufferPointer<Float>, captureTime: UInt64 = monotonicNow()
  )
    throws(EngineError) -> PushResult
  {
    guard let session = session(handle) else { throw .unknownSession }
    return offer(session, handle, samples, captureTime)
  }

  private func offer(
    _ session: Session, _ handle: SessionHandle, _ samples: UnsafeBufferPointer<Float>, _ time: UInt64
  )
    -> PushResult
  {
    guard session.input.write(samples) else { return .full }
    session.pushedSamples += samples.count
    pushedSamples.add(samples.count, ordering: .relaxed)
    session.mark(end: session.pushedSamples, time: time)
    session.lastActivity.store(time, ordering: .relaxed)
    session.worker.markReady(session.position)
    if options.pollMicroseconds == nil { session.worker.wakeup.wake() }
    return .pushed
  }

  /// Zeros the session's model state at the frame boundary that follows the audio pushed so far:
  /// the frame being assembled keeps its samples and is stepped with the old state; the next one
  /// starts from zeros, and its record has ``FrameRecord/stateReset`` set (so a segment observer
  /// ends an open segment there). Frame and sample numbering go on; the feature extractor keeps
  /// its window of past audio. Call it from the session's pushing thread (the position is that
  /// thread's count of pushed samples). Up to 16 resets may be pending at once; more are ignored.
  /// Does not allocate or lock.
  /// - Throws: ``EngineError/unknownSession``.
  public func reset(_ handle: SessionHandle) throws(EngineError) {
    guard let session = session(handle) else { throw .unknownSession }
    let hop = features.hopLength
    session.requestReset(beforeFrame: (session.pushedSamples + hop - 1) / hop)
    session.worker.signal(session.position)
  }

  /// Ends the session: the worker steps the audio already queued, flushes the extractor and the
  /// model's lookahead, and the delivery thread delivers the last records and events, finishes the
  /// sink and frees the slot. Returns at once; ``waitUntilClosed(_:)`` waits.
  /// - Throws: ``EngineError/unknownSession``.
  public func close(_ handle: SessionHandle) throws(EngineError) {
    guard let session = session(handle) else { throw .unknownSession }
    session.closeRequested.store(true, ordering: .releasing)
    session.worker.signal(session.position)
  }

  /// Waits (sleeping in 1-ms steps) until the session's slot has been freed or the engine stops.
  public func waitUntilClosed(_ handle: SessionHandle) {
    while running.load(ordering: .acquiring), !handle.session.delivered.load(ordering: .acquiring) {
      usleep(1000)
    }
  }

  /// Every session's added latency so far (delivery thread's recorder; read it after the engine
  /// has stopped, or accept a snapshot taken while it runs).
  public var latencySummary: LatencySummary { latencies.summary }
}

/// One session slot: its state machine and (while not free) its session.
///
/// free → opening (an opener claimed it) → active → finishing (the worker flushed the session) →
/// free (the delivery thread delivered the end and dropped the session). `session` is written only
/// while the slot is opening (by the opener) or finishing (by the delivery thread), and read by
/// the worker only while the slot is active; the state's release/acquire orders those accesses.
final class SlotCell: @unchecked Sendable {
  static let free = 0
  static let opening = 1
  static let active = 2
  static let finishing = 3
  let state = Atomic<Int>(SlotCell.free)
  let generation = Atomic<UInt64>(0)
  var session: Session?
  /// ``session`` unretained, for the worker and delivery threads' reads (no reference counting per
  /// frame); set and cleared with it.
  var sessionReference: Unmanaged<Session>?
  unowned(unsafe) var worker: Worker!
}

/// A sleeping thread's wake-up: a flag and a semaphore, as the frame ring's consumer uses (no lost
/// wake-up: both sides fence between their store and their load).
final class Wakeup: @unchecked Sendable {
  private let sleeping = Atomic<Int>(0)
  private let semaphore: UnsafeMutablePointer<sem_t>

  init() {
    semaphore = .allocate(capacity: 1)
    sem_init(semaphore, 0, 0)
  }

  deinit {
    sem_destroy(semaphore)
    semaphore.deallocate()
  }

  /// Any thread: wakes the owner if it sleeps. Does not allocate or lock.
  @inline(__always)
  func wake() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    if sleeping.load(ordering: .relaxed) == 1, sleeping.exchange(0, ordering: .acquiringAndReleasing) == 1 {
      sem_post(semaphore)
    }
  }

  /// Owner: announces the sleep; the caller then looks for work once more before ``sleep(nanoseconds:)``.
  func prepareToSleep() {
    sleeping.store(1, ordering: .relaxed)
    atomicMemoryFence(ordering: .sequentiallyConsistent)
  }

  /// Owner: found work after all.
  func cancelSleep() { sleeping.store(0, ordering: .relaxed) }

  /// Owner: sleeps until woken or `nanoseconds` pass.
  func sleep(nanoseconds: UInt64) {
    var deadline = timespec()
    clock_gettime(CLOCK_REALTIME, &deadline)
    let total = UInt64(deadline.tv_nsec) + nanoseconds
    deadline.tv_sec += Int(total / 1_000_000_000)
    deadline.tv_nsec = Int(total % 1_000_000_000)
    while sem_timedwait(semaphore, &deadline) != 0 && errno == EINTR {}
    sleeping.store(0, ordering: .relaxed)
  }
}
