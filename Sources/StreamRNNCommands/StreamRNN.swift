import ArgumentParser
import Pipeline
import Recurrent

#if canImport(Glibc)
  import Glibc
#endif

/// The `streamrnn` command line: one subcommand per job, over the StreamRNN libraries.
public struct StreamRNN: ParsableCommand {
  /// The version `--version` prints.
  public static let version = "0.3.0"

  /// The subcommands and help text.
  public static let configuration = CommandConfiguration(
    commandName: "streamrnn",
    abstract: "Run PyTorch-trained recurrent networks (GRU/LSTM/RNN) one frame at a time.",
    version: version,
    subcommands: [
      StepCommand.self, FeaturesCommand.self, DevicesCommand.self, CaptureCommand.self, ReplayCommand.self,
      BenchCommand.self, ServeCommand.self, ReportCommand.self,
    ])

  /// Required by ArgumentParser; the command is built by parsing.
  public init() {}

  /// Parses the command line and runs the command. Help and `--version` go to standard output
  /// with exit 0; every error is one line on standard error (`streamrnn: …`, control characters
  /// replaced, at most 400 characters) with a non-zero exit below 128.
  public static func runMain() -> Never {
    do {
      var command = try parseAsRoot()
      try command.run()
      Glibc.exit(0)
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        print(fullMessage(for: error))
        Glibc.exit(0)
      }
      writeToStandardError("streamrnn: \(oneLine(message(for: error)))\n")
      Glibc.exit(code.rawValue > 0 && code.rawValue < 128 ? code.rawValue : 1)
    }
  }
}

/// `text` as one printable line of at most `limit` characters: control characters become spaces,
/// runs of spaces fold, and a longer text is cut with "…".
func oneLine(_ text: String, limit: Int = 400) -> String {
  var result = ""
  var lastWasSpace = false
  for scalar in text.unicodeScalars {
    let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    let isSpace = isControl || scalar == " "
    if isSpace && (lastWasSpace || result.isEmpty) { continue }
    result.unicodeScalars.append(isSpace ? " " : scalar)
    lastWasSpace = isSpace
  }
  while result.last == " " { result.removeLast() }
  guard result.count > limit else { return result }
  return String(result.prefix(limit - 1)) + "…"
}

extension RecurrentKind: ExpressibleByArgument {}
extension WeightStorage: ExpressibleByArgument {}

/// The help text of every `--weights` option.
let weightsHelp: ArgumentHelp =
  "Weight storage: f32 (exact, default) or f16 (half the bytes per step; weights rounded to float16)."

/// An error the CLI reports as one line and a non-zero exit.
struct CommandError: Error, CustomStringConvertible {
  let description: String
}
