import CSoxr

/// Every libsoxr call StreamRNN makes lives here.
enum SoxrCalls {
  /// `soxr_create` for one float32 channel at high quality (`SOXR_HQ`, 20-bit precision).
  static func create(inputRate: Double, outputRate: Double) -> Result<soxr_t, ResamplerError> {
    var error: soxr_error_t?
    var io = streamrnn_soxr_float32_io()
    var quality = streamrnn_soxr_high_quality()
    let handle = soxr_create(inputRate, outputRate, 1, &error, &io, &quality, nil)
    guard let handle, error == nil else {
      return .failure(
        ResamplerError(function: "soxr_create", message: error.map { String(cString: $0) } ?? "no resampler"))
    }
    return .success(handle)
  }

  /// `soxr_process`; a nil `input` signals the end of the input (flush).
  static func process(
    _ handle: soxr_t, input: UnsafePointer<Float>?, inputCount: Int, output: UnsafeMutablePointer<Float>,
    outputCapacity: Int
  ) -> (consumed: Int, produced: Int, error: String?) {
    var consumed = 0
    var produced = 0
    let error = soxr_process(handle, input, inputCount, &consumed, output, outputCapacity, &produced)
    return (consumed, produced, error.map { String(cString: $0) })
  }

  /// `soxr_clear`: ready for a fresh signal with the same configuration.
  static func clear(_ handle: soxr_t) { _ = soxr_clear(handle) }

  /// `soxr_delete`.
  static func delete(_ handle: soxr_t) { soxr_delete(handle) }
}
