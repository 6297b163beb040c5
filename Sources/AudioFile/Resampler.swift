import CSoxr

/// A streaming sample-rate converter over one float32 channel (libsoxr, high quality).
///
/// Push blocks of any size with ``process(_:emit:)`` and call ``finish(emit:)`` once at the end of
/// the stream to flush the filter's tail; the total output then has libsoxr's length for the whole
/// signal, `round(inputCount × outputRate / inputRate)`, and equals a one-shot conversion.
/// Equal rates are not handled here: callers pass samples through untouched instead.
public final class Resampler {
  /// Input rate in Hz.
  public let inputRate: Double
  /// Output rate in Hz.
  public let outputRate: Double
  private let handle: soxr_t
  /// Output scratch, allocated once.
  private let output: UnsafeMutableBufferPointer<Float>

  /// Creates the converter; output is produced in blocks of at most `outputBlock` samples.
  public init(inputRate: Double, outputRate: Double, outputBlock: Int = 4096) throws(ResamplerError) {
    guard inputRate.isFinite, outputRate.isFinite, inputRate >= 1, outputRate >= 1,
      inputRate / outputRate <= 1024, outputRate / inputRate <= 1024
    else {
      throw ResamplerError(
        function: "soxr_create",
        message:
          "rates \(inputRate) → \(outputRate) Hz are out of range: positive, with a ratio of at most 1024")
    }
    self.inputRate = inputRate
    self.outputRate = outputRate
    handle = try SoxrCalls.create(inputRate: inputRate, outputRate: outputRate).get()
    output = .allocate(capacity: max(outputBlock, 64))
  }

  deinit {
    SoxrCalls.delete(handle)
    output.deallocate()
  }

  /// Converts `input`, handing each block of output to `emit` (zero or more calls).
  public func process(_ input: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) throws -> Void)
    throws
  {
    guard var pointer = input.baseAddress else { return }
    var remaining = input.count
    repeat {
      let step = SoxrCalls.process(
        handle, input: pointer, inputCount: remaining, output: output.baseAddress!,
        outputCapacity: output.count)
      if let error = step.error { throw ResamplerError(function: "soxr_process", message: error) }
      if step.produced > 0 { try emit(UnsafeBufferPointer(rebasing: output[0..<step.produced])) }
      pointer += step.consumed
      remaining -= step.consumed
      // Stop once all input is taken and libsoxr no longer fills the whole output block.
      if remaining == 0 && step.produced < output.count { break }
    } while true
  }

  /// Flushes the tail at the end of the stream, then makes the converter ready for a new stream.
  public func finish(emit: (UnsafeBufferPointer<Float>) throws -> Void) throws {
    while true {
      let step = SoxrCalls.process(
        handle, input: nil, inputCount: 0, output: output.baseAddress!, outputCapacity: output.count)
      if let error = step.error { throw ResamplerError(function: "soxr_process", message: error) }
      if step.produced == 0 { break }
      try emit(UnsafeBufferPointer(rebasing: output[0..<step.produced]))
    }
    SoxrCalls.clear(handle)
  }
}
