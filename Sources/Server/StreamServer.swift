import Engine
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import StreamCore
import Synchronization
import WireProtocol

/// `streamrnn serve`: every served model's ``StreamEngine`` behind WebSocket sessions at
/// `/v1/stream` (the protocol is in the README), with `GET /healthz`, `/readyz` and `/metrics`.
///
/// Threads: each model's engine runs its own workers and delivery thread (``ServerOptions/threads``
/// workers per model); connections run on Hummingbird's event loops and Swift concurrency, one
/// main loop each (``WireConnection``). SIGTERM (and SIGINT) drain: `/readyz` answers 503, new
/// handshakes get 503, open sessions go on for up to ``ServerOptions/drainSeconds``, then the
/// rest get their final results and close 1001, and ``run(onListening:)`` returns.
public final class StreamServer: Sendable {
  /// The settings.
  public let options: ServerOptions
  /// The served models and their engines, in the order given (the first is the default).
  let models: [(model: ServedModel, engine: StreamEngine)]
  /// The metrics `/metrics` prints.
  public let metrics = ServerMetrics()
  let logger: Logger
  let tokens: TokenList?
  /// Connections admitted and not yet ended.
  private let connections = Atomic<Int>(0)
  private let sessionCounter = Atomic<Int>(0)
  private let draining = Atomic<Bool>(false)
  /// Set when the drain time is over: the remaining sessions finish with 1001.
  private let drainOver = Atomic<Bool>(false)
  private let running = Atomic<Bool>(true)
  private let serviceGroup = Mutex<ServiceGroup?>(nil)
  /// Marks time for the open connections.
  let clock = ConnectionClock()

  /// Checks the options and starts one engine per model (its worker threads run from here on).
  /// - Throws: ``StreamError`` for an invalid option or a model the engine cannot run.
  public init(models: [ServedModel], options: ServerOptions, logger: Logger) throws {
    try options.validate()
    guard !models.isEmpty else {
      throw StreamError.invalidOption(name: "--model", value: "none", allowed: "at least one model")
    }
    var names = Set<String>()
    for model in models where !names.insert(model.name).inserted {
      throw StreamError.invalidOption(
        name: "--model", value: model.name,
        allowed: "models with different file names (each is served under its name)")
    }
    var engineOptions = EngineOptions()
    engineOptions.threads = options.threads
    engineOptions.maxSessions = options.maxSessions
    // Many connections push small messages: workers poll every 2 ms instead of being woken by
    // every push (a context switch each).
    engineOptions.pollMicroseconds = 2000
    // A session's input queue: 8,192 samples (32 KB; 0.5 s at 16 kHz), not the library's 32,768
    // (128 KB, all of it touched as the ring turns): a real-time client keeps a frame or two in
    // it, and audio that does not fit waits for room (back-pressure), it is never dropped. At
    // 1,000 sessions this is 96 MB less.
    engineOptions.queueSamples = 8192
    var started: [(ServedModel, StreamEngine)] = []
    for model in models {
      let engine = try StreamEngine(model: model.chain, features: model.features, options: engineOptions)
      try engine.start()
      started.append((model, engine))
    }
    self.models = started
    self.options = options
    self.logger = logger
    tokens = options.tokens.isEmpty ? nil : TokenList(options.tokens)
  }

  /// The model named `name` (nil: the first), with its engine.
  func model(named name: String?) -> (ServedModel, StreamEngine)? {
    guard let name else { return models.first.map { ($0.model, $0.engine) } }
    return models.first { $0.model.name == name }.map { ($0.model, $0.engine) }
  }

  /// A fresh session id.
  func makeSessionID() -> String {
    let number = sessionCounter.add(1, ordering: .relaxed).newValue
    return "s\(number)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
  }

  /// Whether the engines still run (false once the server has stopped).
  var enginesRunning: Bool { running.load(ordering: .relaxed) }
  /// Whether the drain time is over.
  var drainDeadlinePassed: Bool { drainOver.load(ordering: .relaxed) }
  /// Connections open now.
  public var openConnections: Int { connections.load(ordering: .relaxed) }

  /// Builds the HTTP + WebSocket application.
  func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
    let router = Router()
    router.get("/healthz") { _, _ in "ok\n" }
    router.get("/readyz") { [self] _, _ -> Response in
      let ready = !draining.load(ordering: .relaxed)
      return Response(
        status: ready ? .ok : .serviceUnavailable,
        body: ResponseBody(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "draining\n")))
    }
    router.get("/metrics") { [self] _, _ -> Response in
      metrics.sessionsOpen.set(Double(connections.load(ordering: .relaxed)))
      let text = metrics.scrape(engines: models.map(\.engine))
      return Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }
    let webSocketRouter = Router(context: StreamRequestContext.self)
    webSocketRouter.ws("/v1/stream") { [self] request, _ in
      if draining.load(ordering: .relaxed) {
        metrics.reject(.draining)
        throw HTTPError(.serviceUnavailable, message: "draining")
      }
      if let tokens, !tokens.authorizes(request.headers[.authorization]) {
        metrics.reject(.unauthorized)
        throw HTTPError(.unauthorized, message: "a valid bearer token is needed")
      }
      return .upgrade([:])
    } onUpgrade: { [self] inbound, outbound, context in
      let channel = context.requestContext.channel
      try await serve(
        inbound: inbound, outbound: outbound, logger: context.logger, channel: channel,
        fastPath: await prepareSession(channel)
      )
    }
    // A frame up to twice the message limit is read, so that an oversized message is answered
    // with an error line (and counted) before close 1009; a frame beyond that is refused by the
    // WebSocket layer from its header alone (close 1009, no line), so memory stays bounded.
    let frameSize = max(2 * options.maxMessageBytes, 1 << 14)
    let webSocketResponder = webSocketRouter.buildResponder()
    return Application(
      router: router,
      server: HTTPServerBuilder { [options] responder in
        // Until its WebSocket handshake, a connection is closed after `--idle-timeout` without a
        // byte from the client (a half-open TCP connection, a client that stalls halfway through
        // its request): it is no session yet, so nothing else would end it.
        IdleUntilUpgrade(
          base: HTTP1WebSocketUpgradeChannel(
            responder: responder, webSocketResponder: webSocketResponder,
            configuration: .init(
              ws: .init(
                maxFrameSize: frameSize, autoPing: .enabled(timePeriod: .seconds(30)),
                closeTimeout: .seconds(5)))),
          timeout: .milliseconds(Int64(options.idleTimeout * 1000)))
      },
      configuration: .init(address: .hostname(options.host, port: options.port), serverName: "streamrnn"),
      onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// Readies an upgraded connection's `channel` for its session, in one turn of its event loop:
  /// the pre-session idle timer goes (the session's own idle timeout takes over), the write-buffer
  /// high-water mark (low: half) and the socket's send buffer are set to
  /// ``ServerOptions/sendBufferBytes`` when given, and an ``AudioFastPath`` goes in just after the
  /// WebSocket frame decoder. Returns the fast path, or nil (then all audio takes the usual way)
  /// when it is off or the pipeline is not as expected; a failed option leaves the defaults.
  private func prepareSession(_ channel: any Channel) async -> AudioFastPath? {
    let fastPath =
      options.audioFastPath
      ? AudioFastPath(
        eventLoop: channel.eventLoop, maxMessageBytes: options.maxMessageBytes,
        counter: metrics.fastPathMessages) : nil
    let sendBufferBytes = options.sendBufferBytes
    let installed: Bool? = try? await channel.eventLoop.submit {
      let operations = channel.pipeline.syncOperations
      PreSessionIdleHandler.remove(from: operations)
      if let bytes = sendBufferBytes, let options = channel.syncOptions {
        try? options.setOption(.writeBufferWaterMark, value: .init(low: bytes / 2, high: bytes))
        try? options.setOption(.socketOption(.so_sndbuf), value: .init(bytes))
      }
      guard let fastPath else { return false }
      let decoder = try operations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
      try operations.addHandler(fastPath, position: .after(decoder.handler))
      return true
    }.get()
    return installed == true ? fastPath : nil
  }

  /// One WebSocket connection, counted towards ``ServerOptions/maxSessions`` from here.
  func serve(
    inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger,
    channel: (any Channel)?, fastPath: AudioFastPath?
  ) async throws {
    let admitted = connections.add(1, ordering: .relaxed).newValue
    defer { connections.subtract(1, ordering: .relaxed) }
    guard admitted <= options.maxSessions else {
      metrics.reject(.tooManySessions)
      try? await outbound.write(
        .text(ServerMessage.error("too many sessions (--max-sessions \(options.maxSessions))")))
      try? await outbound.close(.policyViolation, reason: nil)
      return
    }
    try await WireConnection(
      server: self, outbound: outbound, logger: logger, channel: channel, fastPath: fastPath
    ).run(inbound: inbound)
  }

  /// Serves until SIGTERM or SIGINT, then drains (see the type's description) and stops the
  /// engines. `onListening` is called with the bound port once the server accepts connections.
  public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
    let application = makeApplication(onListening: onListening)
    let drain = DrainService(server: self)
    let group = ServiceGroup(
      configuration: .init(
        services: [.init(service: application), .init(service: drain)],
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    serviceGroup.withLock { $0 = group }
    try await group.run()
    stop()
  }

  /// Drains and stops as SIGTERM does (a server embedded in a program, or a test).
  public func shutdown() async {
    await serviceGroup.withLock { $0 }?.triggerGracefulShutdown()
  }

  /// Starts the drain: not ready, new handshakes refused.
  func beginDrain() { draining.store(true, ordering: .relaxed) }

  /// The drain time is over: open sessions finish with 1001.
  func endDrain() { drainOver.store(true, ordering: .relaxed) }

  /// Stops the engines.
  public func stop() {
    running.store(false, ordering: .relaxed)
    for (_, engine) in models { engine.stop() }
  }
}

/// On graceful shutdown (it runs after the application in the service group, so it is shut down
/// first): marks the server draining, waits until its connections have ended or the drain time is
/// over, then has the remaining sessions finish with 1001 and waits (up to 10 s more) for them to
/// close; the application then stops.
struct DrainService: Service {
  let server: StreamServer

  func run() async throws {
    try? await gracefulShutdown()
    server.beginDrain()
    server.logger.notice(
      "draining",
      metadata: ["open": "\(server.openConnections)", "seconds": "\(server.options.drainSeconds)"])
    let deadline = ContinuousClock.now + .milliseconds(Int(server.options.drainSeconds * 1000))
    while server.openConnections > 0 && ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(50))
    }
    server.endDrain()
    let last = ContinuousClock.now + .seconds(10)
    while server.openConnections > 0 && ContinuousClock.now < last {
      try? await Task.sleep(for: .milliseconds(50))
    }
    server.logger.notice("drained", metadata: ["still_open": "\(server.openConnections)"])
  }
}

/// The WebSocket route's request context: Hummingbird's, plus the connection's channel (for the
/// ``AudioFastPath``).
struct StreamRequestContext: RequestContext, WebSocketRequestContext {
  var coreContext: CoreRequestContextStorage
  let webSocket: WebSocketHandlerReference<Self>
  let channel: any Channel

  init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    webSocket = .init()
    channel = source.channel
  }
}
