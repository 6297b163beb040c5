import ArgumentParser
import BundledModels
import CommandLineMain
import Dispatch
import Layers
import Logging
import ModelIO
import NIOCore
import NIOPosix
import Pipeline
import Recurrent
import Server
import StreamCore
import Synchronization

extension WeightStorage: ExpressibleByArgument {}

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn-serve` (also reached as `streamrnn serve`, which runs this executable): live audio
/// streams over WebSocket (protocol in the README). An executable of its own because the server's
/// libraries (Hummingbird, swift-prometheus…) bring Foundation and ICU with them, which `streamrnn`
/// itself does without.
@main
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "streamrnn serve",
    abstract: "Serve models to live audio streams over WebSocket (ws://HOST:PORT/v1/stream).",
    discussion: """
      Each --model file is served under its file name without extension; with none, the bundled \
      Silero VAD is served as silero_vad. GET /healthz, /readyz and /metrics (Prometheus) need no \
      token. SIGTERM or SIGINT drains: new sessions are refused, open ones get --drain-seconds to \
      finish, the rest close with 1001.
      """)

  @Option(help: "Address to listen on (a non-loopback address needs --token-file or --insecure).")
  var host = "127.0.0.1"

  @Option(help: "TCP port (0: any free port, printed on standard error).")
  var port = 8080

  @Option(name: .customLong("model"), help: "A model file to serve (repeat for several).")
  var models: [String] = []

  @Option(
    help: "Weight storage: f32 (exact, default) or f16 (half the bytes per step; weights rounded to float16)."
  )
  var weights: WeightStorage = .float32

  @Option(help: "Worker threads per model (1 to 256; default: one per core).")
  var threads: Int?

  @Option(help: "Connections open at once, counted from the handshake; more are refused (close 1008).")
  var maxSessions = 1024

  @Option(help: "A file of bearer tokens, one per line: every WebSocket handshake must carry one.")
  var tokenFile: String?

  @Option(help: "Close a session that sends nothing for this long, seconds (final results, then close 1000).")
  var idleTimeout = 60.0

  @Option(help: "The largest message accepted, bytes (larger: close 1009).")
  var maxMessageBytes = 1 << 20

  @Option(help: "On SIGTERM, how long open sessions may go on before they are closed with 1001, seconds.")
  var drainSeconds = 30.0

  @Option(
    help:
      "Network threads (1 to 256; default: one per core). They also run the connections' Swift tasks (the SwiftNIO event loops are installed as the concurrency executor)."
  )
  var ioThreads: Int?

  @Flag(
    help:
      "Send every audio message through the connection's tasks instead of pushing it on the event loop that read it (for comparison)."
  )
  var noFastPath = false

  @Option(
    help:
      "Bytes of results that may wait for one client, in the server and in its socket's send buffer each (4096 to 67108864; default: SwiftNIO's 64 KiB and the kernel's autotuning). Smaller bounds a slow reader's memory and finds it sooner."
  )
  var sendBufferBytes: Int?

  @Flag(help: "Allow a non-loopback --host without --token-file.")
  var insecure = false

  func run() throws {
    var options = ServerOptions()
    options.host = host
    options.port = port
    if let threads { options.threads = threads }
    options.maxSessions = maxSessions
    options.idleTimeout = idleTimeout
    options.maxMessageBytes = maxMessageBytes
    options.drainSeconds = drainSeconds
    options.insecure = insecure
    options.audioFastPath = !noFastPath
    options.sendBufferBytes = sendBufferBytes
    if let tokenFile {
      let bytes = try FileBytes.read(tokenFile)
      guard bytes.count <= 1 << 20 else {
        throw CommandError(
          description: "\(printable(tokenFile, limit: 200)): a token file of more than 1 MiB")
      }
      options.tokens = try TokenList(
        fileText: String(decoding: bytes, as: UTF8.self), path: printable(tokenFile)
      )
      .tokens.map { String(decoding: $0, as: UTF8.self) }
    }
    try options.validate()
    let served = try models.isEmpty ? [try bundled()] : models.map(load)
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = .info
      return handler
    }
    let logger = Logger(label: "streamrnn.serve")
    let server = try StreamServer(models: served, options: options, logger: logger)
    let failure = Mutex<(any Error)?>(nil)
    let finished = DispatchSemaphore(value: 0)
    let names = served.map(\.name).joined(separator: ", ")
    let host = host
    Task {
      do {
        try await server.run { port in
          writeToStandardError("streamrnn: serving \(names) on ws://\(host):\(port)/v1/stream\n")
        }
      } catch {
        failure.withLock { $0 = error }
      }
      finished.signal()
    }
    finished.wait()
    server.stop()
    if let error = failure.withLock({ $0 }) { throw CommandError(description: "serve: \(error)") }
  }

  /// The bundled Silero VAD as `silero_vad`.
  private func bundled() throws -> ServedModel {
    let vad = try BundledModels.sileroVAD(weightStorage: weights)
    let chain = try LayerChain(
      layers: [.recurrent(vad.model)], headActivation: vad.model.head?.activation ?? .none,
      labels: vad.model.head?.labels, kernel: vad.model.kernel)
    return ServedModel(name: "silero_vad", chain: chain, features: vad.features)
  }

  /// A model file, served under its file name without extension; it must carry its features.
  private func load(_ path: String) throws -> ServedModel {
    let (chain, features) = try ModelLoader.loadChain(path: path, weightStorage: weights)
    guard let features else {
      throw CommandError(
        description:
          "\(printable(path, limit: 200)): the model has no 'features' or 'frontend' metadata (serve needs it)"
      )
    }
    guard chain.inputSize == features.featureCount else {
      throw CommandError(
        description:
          "\(printable(path, limit: 200)): the model takes \(chain.inputSize) inputs per frame but its features give \(features.featureCount)"
      )
    }
    let file = path.split(separator: "/").last.map(String.init) ?? path
    let name = file.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(separator: ".")
    return ServedModel(name: name.isEmpty ? file : name, chain: chain, features: features)
  }
}

extension ServeCommand {
  /// Parses the command line and runs; help goes to standard output with exit 0, every error is
  /// one line on standard error (`streamrnn: …`, control characters replaced, at most 400
  /// characters) with exit 1–127, as `streamrnn` reports its own.
  static func main() {
    runCommandLine(self) { command in
      guard let serve = command as? ServeCommand else { return }
      // Before anything asynchronous: the connections' tasks then run on the event loop that
      // reads their socket, instead of hopping to Swift's own thread pool and back for every
      // message (a thread switch each way).
      if let count = serve.ioThreads {
        guard (1...256).contains(count) else {
          throw CommandError(description: "--io-threads must be 1 to 256")
        }
        NIOSingletons.groupLoopCountSuggestion = count
      }
      NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
  }
}

/// An error reported as one line and a non-zero exit.
struct CommandError: Error, CustomStringConvertible {
  let description: String
}
