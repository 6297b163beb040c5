import ArgumentParser
import ModelIO
import Recurrent

/// `streamrnn step`: runs a model over a `[T, input_size]` `.npy` of frames and writes the outputs
/// and final state. Unidirectional models go frame by frame through the step API (the same path
/// live audio takes); bidirectional models through the offline sequence API.
struct StepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "step",
    abstract: "Run a model over frames from a .npy file, one step per frame.",
    discussion: """
      OUT is float32 [T, C] head logits (before the activation) when the model has a head, \
      else [T, D*H_out], the last layer's output per step. HN/CN are the final state in \
      PyTorch's h_n/c_n layout, [num_layers*D, H_out] and [num_layers*D, hidden_size].
      """)

  @Option(help: "Model file (safetensors holding a PyTorch state_dict).")
  var model: String

  @Option(help: "Cell kind, overriding the file's 'kind' metadata.")
  var kind: RecurrentKind?

  @Option(help: "Input frames: float32 .npy [T, input_size], C order.")
  var frames: String

  @Option(help: "Initial h: float32 .npy [num_layers*D, H_out] (default zeros).")
  var h0: String?

  @Option(help: "Initial c (LSTM): float32 .npy [num_layers*D, hidden_size] (default zeros).")
  var c0: String?

  @Option(help: "Where to write the outputs (.npy).")
  var out: String

  @Option(help: "Where to write the final h (.npy).")
  var hn: String?

  @Option(help: "Where to write the final c (.npy, LSTM only).")
  var cn: String?

  @Option(help: weightsHelp)
  var weights: WeightStorage = .float32

  func run() throws {
    let file = try SafeTensorsFile(path: model)
    if file.metadata["graph"] != nil {
      try runChain(file)
      return
    }
    let model = try ModelLoader.model(from: file, path: model, kind: kind, weightStorage: weights)
    if !model.hasCellState, let given = c0 ?? cn {
      throw CommandError(
        description: "\(given): only LSTMs have a cell state c, this model is \(model.kind.rawValue)")
    }
    let input = try NpyArray(path: frames)
    guard input.shape.count == 2, input.shape[1] == model.inputSize else {
      throw CommandError(
        description:
          "\(frames): shape \(input.shape), expected [T, \(model.inputSize)] (T frames of input_size \(model.inputSize))"
      )
    }
    let frameCount = input.shape[0]
    let slots = model.layerCount * model.directionCount

    var state = model.makeState()
    if let h0 {
      let array = try NpyArray(path: h0)
      try expect(array, shape: [slots, model.hiddenOutputSize], path: h0, what: "[num_layers*D, H_out]")
      try state.setH(array.values)
    }
    if let c0 {
      let array = try NpyArray(path: c0)
      try expect(array, shape: [slots, model.hiddenSize], path: c0, what: "[num_layers*D, hidden_size]")
      try state.setC(array.values)
    }

    let outputs: [Float]
    if model.isBidirectional {
      outputs = model.run(sequence: input.values, frameCount: frameCount, state: &state)
    } else {
      outputs = model.stepEach(frames: input.values, frameCount: frameCount, state: &state)
    }

    try NpyArray(shape: [frameCount, model.outputSize], values: outputs).write(to: out)
    if let hn {
      try NpyArray(shape: [slots, model.hiddenOutputSize], values: state.h).write(to: hn)
    }
    if let cn {
      try NpyArray(shape: [slots, model.hiddenSize], values: state.c).write(to: cn)
    }
  }

  /// A layer graph: every frame through the chain (outputs before the output activation, one row
  /// per frame the chain gives an output for). Bidirectional layers run over the whole file
  /// (``OfflineChain``); everything else steps frame by frame as on the streaming paths.
  private func runChain(_ file: SafeTensorsFile) throws {
    if kind != nil || h0 != nil || c0 != nil || hn != nil || cn != nil {
      throw CommandError(
        description:
          "\(model): --kind, --h0, --c0, --hn and --cn apply to a single recurrent stack, not to a layer graph"
      )
    }
    let (chain, _) = try ModelLoader.loadOfflineChain(file: file, path: model, weightStorage: weights)
    let input = try NpyArray(path: frames)
    guard input.shape.count == 2, input.shape[1] == chain.inputSize else {
      throw CommandError(description: "\(frames): shape \(input.shape), expected [T, \(chain.inputSize)]")
    }
    let outputs = chain.run(sequence: input.values, frameCount: input.shape[0])
    try NpyArray(shape: [outputs.count / chain.outputSize, chain.outputSize], values: outputs).write(to: out)
  }

  /// Accepts `shape`, or PyTorch's batched form with a batch of 1 in the middle (`[L*D, 1, H]`).
  private func expect(_ array: NpyArray, shape: [Int], path: String, what: String) throws {
    guard array.shape == shape || array.shape == [shape[0], 1, shape[1]] else {
      throw CommandError(description: "\(path): shape \(array.shape), expected \(shape) \(what)")
    }
  }
}
