import Engine
import Features
import Layers
import StreamCore

/// A model the server offers, under its name (the file name without extension, or `silero_vad`
/// for the bundled one).
public struct ServedModel: Sendable {
  /// What clients put in `config.model`.
  public var name: String
  /// The model (weights shared by every session).
  public var chain: LayerChain
  /// Its features.
  public var features: FeatureConfiguration

  /// A served model.
  public init(name: String, chain: LayerChain, features: FeatureConfiguration) {
    self.name = name
    self.chain = chain
    self.features = features
  }
}

/// `streamrnn serve`'s settings, checked by ``validate()`` before anything listens.
public struct ServerOptions: Sendable {
  /// The address to listen on (default loopback).
  public var host = "127.0.0.1"
  /// The TCP port (0: any free port, reported by ``StreamServer/run(onListening:)``).
  public var port = 8080
  /// Worker threads per served model (default: one per core).
  public var threads = EngineOptions().threads
  /// Connections open at once, counted from the WebSocket handshake; more are refused with 1008.
  public var maxSessions = 1024
  /// Bearer tokens, any of which opens a session; empty: no token needed (loopback only, unless
  /// ``insecure``).
  public var tokens: [String] = []
  /// A session that receives nothing for this long (before or after its config) gets its final
  /// events and `stats`, then close 1000. Seconds.
  public var idleTimeout = 60.0
  /// The largest message accepted, bytes; a larger one closes the session with 1009.
  public var maxMessageBytes = 1 << 20
  /// On SIGTERM, how long open sessions may go on before they are closed with 1001, seconds.
  public var drainSeconds = 30.0
  /// Listen beyond loopback without a token.
  public var insecure = false
  /// Messages a session may have waiting for a slow reader before it is closed (with 1008).
  public var outboundMessages = 1024
  /// Push a streaming session's binary messages on the event loop that read them
  /// (`AudioFastPath`); false: every message goes through the connection's tasks.
  public var audioFastPath = true
  /// Bytes of results that may wait for one client: the connection's SwiftNIO write buffer (its
  /// high-water mark; a write past it waits, and a write that waits 5 s ends the connection) and
  /// its socket's send buffer (`SO_SNDBUF`) are each set to this. nil: SwiftNIO's 64 KiB and the
  /// kernel's autotuning (up to `net.ipv4.tcp_wmem`'s maximum, often 4 MiB, per connection).
  public var sendBufferBytes: Int?

  /// The defaults.
  public init() {}

  /// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
  public var listensOnLoopbackOnly: Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
  }

  /// Checks every setting: one line naming the option, its value and what is allowed.
  /// - Throws: ``StreamError/invalidOption(name:value:allowed:)``.
  public func validate() throws(StreamError) {
    guard (0...65_535).contains(port) else {
      throw .invalidOption(name: "--port", value: "\(port)", allowed: "0 to 65535")
    }
    guard (1...256).contains(threads) else {
      throw .invalidOption(name: "--threads", value: "\(threads)", allowed: "1 to 256")
    }
    guard (1...100_000).contains(maxSessions) else {
      throw .invalidOption(name: "--max-sessions", value: "\(maxSessions)", allowed: "1 to 100000")
    }
    guard idleTimeout.isFinite, (0.1...86_400).contains(idleTimeout) else {
      throw .invalidOption(name: "--idle-timeout", value: "\(idleTimeout)", allowed: "0.1 to 86400 seconds")
    }
    guard (1024...(256 << 20)).contains(maxMessageBytes) else {
      throw .invalidOption(
        name: "--max-message-bytes", value: "\(maxMessageBytes)", allowed: "1024 to 268435456 bytes")
    }
    guard drainSeconds.isFinite, (0...3600).contains(drainSeconds) else {
      throw .invalidOption(name: "--drain-seconds", value: "\(drainSeconds)", allowed: "0 to 3600 seconds")
    }
    guard (16...1_000_000).contains(outboundMessages) else {
      throw .invalidOption(name: "outbound messages", value: "\(outboundMessages)", allowed: "16 to 1000000")
    }
    if let sendBufferBytes, !(4096...(64 << 20)).contains(sendBufferBytes) {
      throw .invalidOption(
        name: "--send-buffer-bytes", value: "\(sendBufferBytes)", allowed: "4096 to 67108864 bytes")
    }
    if !listensOnLoopbackOnly && tokens.isEmpty && !insecure {
      throw .invalidOption(
        name: "--host", value: host,
        allowed:
          "a loopback address without --token-file (anyone who reaches the port could stream; give --token-file, or --insecure to accept that)"
      )
    }
  }
}

/// Bearer tokens, one per line of a file (blank lines and `#` comments skipped), compared in
/// constant time.
public struct TokenList: Sendable {
  /// The tokens.
  public let tokens: [[UInt8]]

  /// Tokens from a file's text.
  /// - Throws: ``StreamError/invalidOption(name:value:allowed:)`` when it holds none, or a token
  ///   with spaces or control characters.
  public init(fileText: String, path: String) throws(StreamError) {
    var tokens: [[UInt8]] = []
    for line in fileText.split(separator: "\n", omittingEmptySubsequences: true) {
      let token = line.hasSuffix("\r") ? line.dropLast() : Substring(line)
      if token.isEmpty || token.hasPrefix("#") { continue }
      guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), token.utf8.count <= 4096 else {
        throw .invalidOption(
          name: "--token-file", value: path, allowed: "one token per line, printable ASCII without spaces")
      }
      tokens.append(Array(token.utf8))
    }
    guard !tokens.isEmpty else {
      throw .invalidOption(name: "--token-file", value: path, allowed: "a file with at least one token")
    }
    self.tokens = tokens
  }

  /// Tokens given directly.
  public init(_ tokens: [String]) { self.tokens = tokens.map { Array($0.utf8) } }

  /// Whether an `Authorization` header value is `Bearer <one of the tokens>`. Every token is
  /// compared over its whole length whatever the input, so the time taken does not tell how much
  /// of a token matched.
  public func authorizes(_ header: String?) -> Bool {
    guard let header, header.utf8.count <= 8192 else { return false }
    let bytes = Array(header.utf8)
    let prefix = Array("Bearer ".utf8)
    guard bytes.count > prefix.count, bytes.prefix(prefix.count).elementsEqual(prefix) else { return false }
    let presented = bytes.dropFirst(prefix.count)
    var matched = false
    for token in tokens {
      var difference = UInt8(token.count == presented.count ? 0 : 1)
      for index in 0..<token.count {
        let offered = index < presented.count ? presented[presented.startIndex + index] : 0
        difference |= token[index] ^ offered
      }
      matched = matched || difference == 0
    }
    return matched
  }
}
