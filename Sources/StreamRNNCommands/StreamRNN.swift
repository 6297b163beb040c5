import ArgumentParser
import Recurrent

/// The `streamrnn` command line: one subcommand per job.
public struct StreamRNN: ParsableCommand {
  /// The subcommands and help text.
  public static let configuration = CommandConfiguration(
    commandName: "streamrnn",
    abstract: "Run PyTorch-trained recurrent networks (GRU/LSTM/RNN) one frame at a time.",
    subcommands: [
      StepCommand.self, FeaturesCommand.self, DevicesCommand.self, CaptureCommand.self, ReplayCommand.self,
      BenchCommand.self,
    ])

  /// Required by ArgumentParser; the command is built by parsing.
  public init() {}
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
