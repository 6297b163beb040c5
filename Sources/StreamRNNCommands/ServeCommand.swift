import ArgumentParser

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn serve`: runs the `streamrnn-serve` executable installed beside `streamrnn` with the
/// same arguments. The server's libraries (Hummingbird, swift-prometheus, swift-service-lifecycle)
/// link Foundation and ICU, which `streamrnn` does without (7 MB less resident memory for every
/// other subcommand), so the server lives in an executable of its own.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve models to live audio streams over WebSocket (runs streamrnn-serve).",
    discussion: "Every argument goes to streamrnn-serve: see `streamrnn serve --help`.")

  @Argument(parsing: .captureForPassthrough, help: "Arguments for streamrnn-serve.")
  var arguments: [String] = []

  func run() throws {
    try execSibling("streamrnn-serve", arguments)
  }
}

/// `streamrnn loadgen`: runs the `streamrnn-loadgen` executable installed beside `streamrnn` with
/// the same arguments (it is built on SwiftNIO, which `streamrnn` itself does without).
struct LoadGenCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "loadgen",
    abstract: "Load a streamrnn server with real-time WebSocket audio streams (runs streamrnn-loadgen).",
    discussion: "Every argument goes to streamrnn-loadgen: see `streamrnn loadgen --help`.")

  @Argument(parsing: .captureForPassthrough, help: "Arguments for streamrnn-loadgen.")
  var arguments: [String] = []

  func run() throws {
    try execSibling("streamrnn-loadgen", arguments)
  }
}
