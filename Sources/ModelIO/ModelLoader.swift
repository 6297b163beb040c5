import Features
import Layers
import Recurrent

/// Loads recurrent models from safetensors files holding a PyTorch `state_dict`.
///
/// Metadata keys read: `kind` (`gru` | `lstm` | `rnn_tanh` | `rnn_relu`), `labels` (a JSON list of
/// class names) and `head_activation` (`softmax` | `sigmoid` | `none`, default `none`). Other
/// metadata keys are ignored (PyTorch tooling adds its own, such as `format`).
public enum ModelLoader {
  /// Reads, validates and packs the model at `path`.
  ///
  /// - Parameter kind: Overrides the file's `kind` metadata (the CLI's `--kind`). Without either,
  ///   GRU and LSTM are recognised by their shapes.
  /// - Throws: ``ModelFileError`` naming the file and the first problem found.
  /// - Parameter kernel: The instruction set to run on (default: the fastest this CPU has).
  /// - Parameter weightStorage: float32 (default, exact) or float16 weights (see ``WeightStorage``).
  public static func load(
    path: String, kind: RecurrentKind? = nil, kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  )
    throws(ModelFileError) -> RecurrentModel
  {
    let file = try SafeTensorsFile(path: path)
    return try model(from: file, path: path, kind: kind, kernel: kernel, weightStorage: weightStorage)
  }

  /// Reads the model and the feature configuration its `features` metadata carries (nil if none).
  public static func loadWithFeatures(
    path: String, kind: RecurrentKind? = nil, kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  )
    throws(ModelFileError) -> (model: RecurrentModel, features: FeatureConfiguration?)
  {
    try loadWithFeatures(
      file: SafeTensorsFile(path: path), path: path, kind: kind, kernel: kernel, weightStorage: weightStorage)
  }

  /// Like ``loadWithFeatures(path:kind:kernel:)``, from a file already read (an embedded model, say);
  /// `path` names it in errors.
  public static func loadWithFeatures(
    file: SafeTensorsFile, path: String, kind: RecurrentKind? = nil, kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  )
    throws(ModelFileError) -> (model: RecurrentModel, features: FeatureConfiguration?)
  {
    let model = try model(from: file, path: path, kind: kind, kernel: kernel, weightStorage: weightStorage)
    return (
      model, try features(in: file, path: path, inputSize: model.inputSize, taker: "the recurrent stack")
    )
  }

  /// The features a file carries: its learned `frontend` (which must give `inputSize` values per
  /// frame to `taker`), its `features` metadata, or nil; both at once is an error.
  static func features(in file: SafeTensorsFile, path: String, inputSize: Int, taker: String)
    throws(ModelFileError) -> FeatureConfiguration?
  {
    guard let frontend = file.metadata["frontend"] else {
      return try file.metadata["features"].map { text throws(ModelFileError) in
        try FeatureMetadata.parse(text, path: path)
      }
    }
    guard file.metadata["features"] == nil else {
      throw ModelFileError(path: path, reason: "metadata has both 'frontend' and 'features'; expected one")
    }
    let learned = try FrontendMetadata.parse(frontend, tensors: file.tensors, path: path)
    guard learned.featureCount == inputSize else {
      throw ModelFileError(
        path: path,
        reason: "the frontend gives \(learned.featureCount) values per frame but \(taker) takes \(inputSize)")
    }
    return .learned(learned)
  }

  /// Reads any model as a chain of layers, with its features: a file with `graph` metadata (see
  /// ``GraphMetadata``) as its layers, any other model (a recurrent stack with an optional head,
  /// Silero) as a one-layer chain with its head's activation and labels.
  public static func loadChain(
    path: String, kernel: RecurrentKernel = .preferred, weightStorage: WeightStorage = .float32
  ) throws(ModelFileError) -> (chain: LayerChain, features: FeatureConfiguration?) {
    try loadChain(file: SafeTensorsFile(path: path), path: path, kernel: kernel, weightStorage: weightStorage)
  }

  /// Like ``loadChain(path:kernel:weightStorage:)``, from a file already read.
  public static func loadChain(
    file: SafeTensorsFile, path: String, kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  ) throws(ModelFileError) -> (chain: LayerChain, features: FeatureConfiguration?) {
    guard let graph = file.metadata["graph"] else {
      let loaded = try loadWithFeatures(file: file, path: path, kernel: kernel, weightStorage: weightStorage)
      do {
        let chain = try LayerChain(
          layers: [.recurrent(loaded.model)], headActivation: loaded.model.head?.activation ?? .none,
          labels: loaded.model.head?.labels, kernel: loaded.model.kernel)
        return (chain, loaded.features)
      } catch {
        throw ModelFileError(path: path, reason: error.description)
      }
    }
    for key in ["kind", "head_activation", "head_input_activation"] where file.metadata[key] != nil {
      throw ModelFileError(
        path: path, reason: "metadata '\(key)' does not apply to a graph (the graph says it)")
    }
    let chain = try GraphMetadata.parse(
      graph, tensors: file.tensors, labels: try labels(in: file, path: path), path: path, kernel: kernel,
      weightStorage: weightStorage)
    return (chain, try features(in: file, path: path, inputSize: chain.inputSize, taker: "the graph"))
  }

  /// A graph file for offline use (``OfflineChain``: bidirectional layers allowed), with its
  /// features. A file without a graph runs as a one-layer chain, as in ``loadChain(path:kernel:weightStorage:)``.
  public static func loadOfflineChain(
    file: SafeTensorsFile, path: String, kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  ) throws(ModelFileError) -> (chain: OfflineChain, features: FeatureConfiguration?) {
    guard let graph = file.metadata["graph"] else {
      let loaded = try loadWithFeatures(file: file, path: path, kernel: kernel, weightStorage: weightStorage)
      do {
        let chain = try OfflineChain(
          layers: [.recurrent(loaded.model)], headActivation: loaded.model.head?.activation ?? .none,
          labels: loaded.model.head?.labels, kernel: loaded.model.kernel)
        return (chain, loaded.features)
      } catch {
        throw ModelFileError(path: path, reason: error.description)
      }
    }
    for key in ["kind", "head_activation", "head_input_activation"] where file.metadata[key] != nil {
      throw ModelFileError(
        path: path, reason: "metadata '\(key)' does not apply to a graph (the graph says it)")
    }
    let chain = try GraphMetadata.parseOffline(
      graph, tensors: file.tensors, labels: try labels(in: file, path: path), path: path, kernel: kernel,
      weightStorage: weightStorage)
    return (chain, try features(in: file, path: path, inputSize: chain.inputSize, taker: "the graph"))
  }

  /// The `labels` metadata: a JSON list of 1 to 64 printable characters each, or nil.
  static func labels(in file: SafeTensorsFile, path: String) throws(ModelFileError) -> [String]? {
    guard let text = file.metadata["labels"] else { return nil }
    guard let list = JSONValue.parse(text)?.array, case let names = list.compactMap(\.string),
      names.count == list.count
    else {
      throw ModelFileError(
        path: path, reason: "metadata labels must be a JSON list of strings, got \(printable(text))")
    }
    if let bad = names.first(where: { $0.isEmpty || $0.unicodeScalars.count > 64 || printable($0) != $0 }) {
      throw ModelFileError(
        path: path, reason: "metadata label '\(printable(bad))' must be 1 to 64 printable characters")
    }
    return names
  }

  /// Builds the model from an already parsed file; `path` only names it in errors.
  public static func model(
    from file: SafeTensorsFile, path: String, kind: RecurrentKind? = nil,
    kernel: RecurrentKernel = .preferred,
    weightStorage: WeightStorage = .float32
  )
    throws(ModelFileError) -> RecurrentModel
  {
    func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }
    if file.metadata["graph"] != nil {
      throw fail(
        "holds a layer graph, not a single recurrent stack: load it as a chain (ModelLoader.loadChain)")
    }
    var resolvedKind = kind
    if resolvedKind == nil, let text = file.metadata["kind"] {
      guard let parsed = RecurrentKind(rawValue: text) else {
        throw fail(
          "metadata kind '\(printable(text))' is not one of \(RecurrentKind.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      resolvedKind = parsed
    }
    var activation = HeadActivation.none
    if let text = file.metadata["head_activation"] {
      guard let parsed = HeadActivation(rawValue: text) else {
        throw fail(
          "metadata head_activation '\(printable(text))' is not one of \(HeadActivation.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      activation = parsed
    }
    let labels = try Self.labels(in: file, path: path)
    var inputActivation = HeadInputActivation.none
    if let text = file.metadata["head_input_activation"] {
      guard let parsed = HeadInputActivation(rawValue: text) else {
        throw fail("metadata head_input_activation '\(printable(text))' is not relu or none")
      }
      inputActivation = parsed
    }
    // A learned frontend's tensors belong to the frontend, not to the recurrent stack.
    let tensors =
      file.metadata["frontend"] == nil ? file.tensors : file.tensors.filter { !$0.key.hasPrefix("frontend.") }
    do {
      return try RecurrentModel(
        kind: resolvedKind, stateDict: tensors, headActivation: activation,
        headInputActivation: inputActivation,
        labels: labels, kernel: kernel, weightStorage: weightStorage)
    } catch {
      throw fail(error.description)
    }
  }
}
