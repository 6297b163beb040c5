import Features

/// Reads and writes the `features` metadata a model file may carry: a JSON object naming the
/// extractor (`"kind": "logmel"` or `"fbank"`) and its parameters under torchaudio's names.
///
/// logmel keys: `sample_rate`, `n_fft`, `win_length`, `hop_length`, `n_mels`, `f_min`, `f_max`
/// (null = sample_rate // 2), `power`, `mel_scale` (htk | slaney), `norm` (null | slaney),
/// `center`, `log_offset`, `int16_scale`. fbank keys: `sample_frequency`, `frame_length`,
/// `frame_shift` (ms), `num_mel_bins`, `window_type`, `preemphasis_coefficient`,
/// `remove_dc_offset`, `round_to_power_of_two`, `low_freq`, `high_freq`, `use_log_fbank`,
/// `use_power`, `int16_scale`. Missing keys take the defaults of ``LogMelConfiguration`` /
/// ``FbankConfiguration``; an unknown key or a wrong type is an error, never ignored.
public enum FeatureMetadata {
  /// Parses the `features` metadata value; `path` names the model file in errors.
  public static func parse(_ text: String, path: String) throws(ModelFileError) -> FeatureConfiguration {
    func fail(_ reason: String) -> ModelFileError {
      ModelFileError(path: path, reason: "metadata features: \(reason)")
    }
    guard let fields = JSONValue.parse(text)?.object else { throw fail("not a JSON object") }
    var remaining = fields
    func take<T>(_ key: String, _ type: T.Type) throws(ModelFileError) -> T? {
      guard let value = remaining.removeValue(forKey: key), !value.isNull else { return nil }
      let converted: Any? =
        switch T.self {
        case is Bool.Type: value.bool
        case is Int.Type: value.integer
        case is Double.Type: value.number
        case is String.Type: value.string
        default: nil
        }
      guard let typed = converted as? T else {
        throw fail("'\(key)' has the wrong type (expected \(T.self))")
      }
      return typed
    }
    guard let kind = try take("kind", String.self) else { throw fail("no 'kind' (logmel or fbank)") }
    let scale: Float = try take("int16_scale", Bool.self) == true ? 32768 : 1
    let configuration: FeatureConfiguration
    switch kind {
    case "logmel":
      var c = LogMelConfiguration()
      c.sampleRate = try take("sample_rate", Int.self) ?? c.sampleRate
      c.nFFT = try take("n_fft", Int.self) ?? c.nFFT
      c.winLength = try take("win_length", Int.self) ?? min(c.winLength, c.nFFT)
      c.hopLength = try take("hop_length", Int.self) ?? c.hopLength
      c.nMels = try take("n_mels", Int.self) ?? c.nMels
      c.fMin = try take("f_min", Double.self) ?? c.fMin
      c.fMax = try take("f_max", Double.self)
      c.power = try take("power", Double.self).map(Float.init) ?? c.power
      if let name = try take("mel_scale", String.self) {
        guard let value = MelScale(rawValue: name) else {
          throw fail("mel_scale '\(printable(name))' is not htk or slaney")
        }
        c.melScale = value
      }
      if let name = try take("norm", String.self) {
        guard let value = MelNorm(rawValue: name) else {
          throw fail("norm '\(printable(name))' is not slaney or null")
        }
        c.norm = value
      }
      c.center = try take("center", Bool.self) ?? c.center
      c.logOffset = try take("log_offset", Double.self).map(Float.init) ?? c.logOffset
      c.inputScale = scale
      configuration = .logmel(c)
    case "fbank":
      var c = FbankConfiguration()
      c.sampleRate = try take("sample_frequency", Double.self) ?? c.sampleRate
      c.frameLengthMs = try take("frame_length", Double.self) ?? c.frameLengthMs
      c.frameShiftMs = try take("frame_shift", Double.self) ?? c.frameShiftMs
      c.numMelBins = try take("num_mel_bins", Int.self) ?? c.numMelBins
      if let name = try take("window_type", String.self) {
        guard let value = WindowFunction(rawValue: name) else {
          throw fail("window_type '\(printable(name))' is unknown")
        }
        c.windowType = value
      }
      c.preemphasisCoefficient =
        try take("preemphasis_coefficient", Double.self).map(Float.init) ?? c.preemphasisCoefficient
      c.removeDCOffset = try take("remove_dc_offset", Bool.self) ?? c.removeDCOffset
      c.roundToPowerOfTwo = try take("round_to_power_of_two", Bool.self) ?? c.roundToPowerOfTwo
      c.lowFrequency = try take("low_freq", Double.self) ?? c.lowFrequency
      c.highFrequency = try take("high_freq", Double.self) ?? c.highFrequency
      c.useLogFbank = try take("use_log_fbank", Bool.self) ?? c.useLogFbank
      c.usePower = try take("use_power", Bool.self) ?? c.usePower
      c.inputScale = scale
      configuration = .fbank(c)
    default:
      throw fail("kind '\(printable(kind))' is not logmel or fbank")
    }
    if let stray = remaining.keys.sorted().first {
      throw fail("unknown key '\(printable(stray))' for \(kind)")
    }
    do {
      _ = try configuration.makeExtractor()
    } catch {
      throw fail(error.description)
    }
    return configuration
  }
}
