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
///
/// Ranges (a value outside is a one-line error naming the key, its value and the range):
/// `sample_rate` 1000–384000 Hz, `chunk_samples` 1–65536, `context_samples` 0–65536, the window
/// 2–65536 samples, `hop_length` 1 to the window, `pad_right` below context + chunk, conv
/// `stride` 1–64, `padding` 0 to the kernel width, every conv dimension 1–4096; the layers'
/// channels must chain and leave at least one time step.
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
    /// An integer field within `range`; the message names the key, its value (printable, cut)
    /// and the range.
    func integer(
      _ object: [String: JSONValue], _ key: String, _ range: ClosedRange<Int>, in place: String = ""
    )
      throws(ModelFileError) -> Int
    {
      let name = place.isEmpty ? "'\(key)'" : "\(place) '\(key)'"
      guard let value = object[key] else {
        throw fail("\(name) is missing (allowed \(range.lowerBound) to \(range.upperBound))")
      }
      guard let number = value.integer, range.contains(number) else {
        let shown = printable(String(decoding: value.encoded().filter { $0 != 0x0A }, as: UTF8.self))
        throw fail("\(name) \(shown) is out of range: allowed \(range.lowerBound) to \(range.upperBound)")
      }
      return number
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
    guard (basis.shape.count == 3 && basis.shape[1] == 1) || basis.shape.count == 2,
      FeatureLimits.fftSize.contains(window), (2...2 * FeatureLimits.bins.upperBound).contains(basis.shape[0])
    else {
      throw fail(
        "tensor 'frontend.stft.basis' has shape \(basis.shape), expected [2F, 1, window] (window 2 to 65536, F 1 to 4096)"
      )
    }
    guard let convValues = fields["convs"]?.array, case let convList = convValues.compactMap(\.object),
      convList.count == convValues.count
    else {
      throw fail("'convs' must be a list of objects")
    }
    var convs: [ConvLayer] = []
    for (index, conv) in convList.enumerated() {
      let name = "frontend.conv\(index)"
      guard let weight = tensors[name + ".weight"], weight.shape.count == 3,
        weight.shape.allSatisfy({ (1...4096).contains($0) })
      else {
        throw fail(
          "missing or misshapen tensor '\(name).weight' (expected [out, in, kernel], each 1 to 4096)")
      }
      guard let bias = tensors[name + ".bias"], bias.shape == [weight.shape[0]] else {
        throw fail("missing or misshapen tensor '\(name).bias' (expected [\(weight.shape[0])])")
      }
      let activation = conv["activation"]?.string ?? "none"
      guard activation == "relu" || activation == "none" else {
        throw fail("conv\(index) 'activation' '\(printable(activation))' is not relu or none")
      }
      let kernel = weight.shape[2]
      convs.append(
        ConvLayer(
          weight: weight.values, bias: bias.values, outChannels: weight.shape[0], inChannels: weight.shape[1],
          kernel: kernel, stride: try integer(conv, "stride", 1...64, in: "conv\(index)"),
          padding: try integer(conv, "padding", 0...kernel, in: "conv\(index)"), relu: activation == "relu"))
    }
    let expected = Set(
      ["frontend.stft.basis"]
        + (0..<convList.count).flatMap { ["frontend.conv\($0).weight", "frontend.conv\($0).bias"] })
    if let stray = tensors.keys.filter({ $0.hasPrefix("frontend.") && !expected.contains($0) }).sorted().first
    {
      throw fail("unexpected tensor '\(printable(stray))'")
    }
    let sampleRate = try integer(fields, "sample_rate", FeatureLimits.sampleRate)
    let chunk = try integer(fields, "chunk_samples", FeatureLimits.hop)
    let context = try integer(fields, "context_samples", 0...FeatureLimits.hop.upperBound)
    let hop = try integer(stft, "hop_length", 1...window, in: "stft")
    let padRight = try integer(stft, "pad_right", 0...(context + chunk - 1), in: "stft")
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
