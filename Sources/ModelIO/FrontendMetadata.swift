import Features
import Recurrent

/// Reads a learned frontend from a model file: the `frontend` metadata (JSON) and the
/// `frontend.*` tensors.
///
/// Metadata: `{"type": "stft_conv", "sample_rate": 16000, "chunk_samples": 512,
/// "context_samples": 64, "stft": {"hop_length": 128, "pad_right": 64, "pad_mode": "reflect"},
/// "convs": [{"stride": 1, "padding": 1, "activation": "relu"}, …]}`. Tensors:
/// `frontend.stft.basis` `[2F, 1, window]` (or `[2F, window]`), and `frontend.conv{i}.weight`
/// `[out, in, kernel]` with `frontend.conv{i}.bias` `[out]` for each entry of `convs`.
public enum FrontendMetadata {
  /// Parses the frontend; `path` names the model file in errors.
  public static func parse(_ text: String, tensors: [String: FloatTensor], path: String)
    throws(ModelFileError)
    -> ConvFrontend
  {
    func fail(_ reason: String) -> ModelFileError {
      ModelFileError(path: path, reason: "frontend: \(reason)")
    }
    guard let fields = JSONValue.parse(text)?.object else { throw fail("metadata is not a JSON object") }
    func integer(_ object: [String: JSONValue], _ key: String) throws(ModelFileError) -> Int {
      guard let value = object[key]?.integer else { throw fail("'\(key)' must be an integer") }
      return value
    }
    guard fields["type"]?.string == "stft_conv" else { throw fail("type must be 'stft_conv'") }
    guard let stft = fields["stft"]?.object else { throw fail("no 'stft' object") }
    guard (stft["pad_mode"]?.string ?? "reflect") == "reflect" else {
      throw fail("only reflect padding is supported")
    }
    guard let basis = tensors["frontend.stft.basis"] else {
      throw fail("missing tensor 'frontend.stft.basis'")
    }
    let window = basis.shape.last ?? 0
    guard (basis.shape.count == 3 && basis.shape[1] == 1) || basis.shape.count == 2 else {
      throw fail("tensor 'frontend.stft.basis' has shape \(basis.shape), expected [2F, 1, window]")
    }
    guard let convValues = fields["convs"]?.array, case let convList = convValues.compactMap(\.object),
      convList.count == convValues.count
    else {
      throw fail("'convs' must be a list of objects")
    }
    var convs: [ConvLayer] = []
    for (index, conv) in convList.enumerated() {
      let name = "frontend.conv\(index)"
      guard let weight = tensors[name + ".weight"], weight.shape.count == 3 else {
        throw fail("missing or misshapen tensor '\(name).weight' (expected [out, in, kernel])")
      }
      guard let bias = tensors[name + ".bias"], bias.shape == [weight.shape[0]] else {
        throw fail("missing or misshapen tensor '\(name).bias' (expected [\(weight.shape[0])])")
      }
      let activation = conv["activation"]?.string ?? "none"
      guard activation == "relu" || activation == "none" else {
        throw fail("conv\(index) activation must be relu or none")
      }
      convs.append(
        ConvLayer(
          weight: weight.values, bias: bias.values, outChannels: weight.shape[0], inChannels: weight.shape[1],
          kernel: weight.shape[2], stride: try integer(conv, "stride"), padding: try integer(conv, "padding"),
          relu: activation == "relu"))
    }
    let expected = Set(
      ["frontend.stft.basis"]
        + (0..<convList.count).flatMap { ["frontend.conv\($0).weight", "frontend.conv\($0).bias"] })
    if let stray = tensors.keys.filter({ $0.hasPrefix("frontend.") && !expected.contains($0) }).sorted().first
    {
      throw fail("unexpected tensor '\(stray)'")
    }
    let sampleRate = try integer(fields, "sample_rate")
    let chunk = try integer(fields, "chunk_samples")
    let context = try integer(fields, "context_samples")
    let hop = try integer(stft, "hop_length")
    let padRight = try integer(stft, "pad_right")
    do {
      return try ConvFrontend(
        sampleRate: sampleRate, chunkSamples: chunk, contextSamples: context, hopLength: hop,
        padRight: padRight,
        basis: basis.values, basisRows: basis.shape[0], window: window, convs: convs)
    } catch {
      throw fail(error.description)
    }
  }
}
