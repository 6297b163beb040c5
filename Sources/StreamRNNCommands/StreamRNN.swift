import ArgumentParser
import CommandLineMain
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
      BenchCommand.self, ServeCommand.self, LoadGenCommand.self, ReportCommand.self,
    ])

  /// Required by ArgumentParser; the command is built by parsing.
  public init() {}

  /// Parses the command line and runs the command (``runCommandLine(_:prepare:)``: one line on
  /// standard error for every error).
  public static func runMain() -> Never {
    runCommandLine(self)
  }
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
