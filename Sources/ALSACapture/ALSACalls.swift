import CALSA

#if canImport(Glibc)
  import Glibc
#endif

/// Every libasound call StreamRNN makes lives here. Each returns libasound's code; callers turn
/// failures into ``ALSAError`` with `ALSACalls.error(_:_:_:)`.
enum ALSACalls {
  /// Sample formats we accept, in order of preference.
  enum SampleFormat: CaseIterable {
    case s16, s32, float32
    var alsa: snd_pcm_format_t {
      switch self {
      case .s16: SND_PCM_FORMAT_S16_LE
      case .s32: SND_PCM_FORMAT_S32_LE
      case .float32: SND_PCM_FORMAT_FLOAT_LE
      }
    }
    var bytes: Int { self == .s16 ? 2 : 4 }
    var name: String {
      switch self {
      case .s16: "S16_LE"
      case .s32: "S32_LE"
      case .float32: "FLOAT_LE"
      }
    }
  }

  /// What the device agreed to.
  struct Configuration {
    var format: SampleFormat
    var channels: Int
    var rate: Int
    var periodFrames: Int
    var bufferFrames: Int
  }

  static func silenceErrors() { streamrnn_alsa_silence_errors() }

  static func text(_ code: Int32) -> String { String(cString: snd_strerror(code)) }

  static func error(_ function: String, _ device: String, _ code: Int32) -> ALSAError {
    ALSAError(function: function, device: device, code: code, message: text(code))
  }

  /// `snd_pcm_open` for blocking capture.
  static func openCapture(_ device: String) -> Result<OpaquePointer, ALSAError> {
    var pcm: OpaquePointer?
    let code = snd_pcm_open(&pcm, device, SND_PCM_STREAM_CAPTURE, 0)
    guard code >= 0, let pcm else { return .failure(error("snd_pcm_open", device, code)) }
    return .success(pcm)
  }

  /// Negotiates interleaved access, the first format of S16_LE/S32_LE/FLOAT_LE the device takes,
  /// channels and rate near the request, and period/buffer sizes near the request.
  static func configure(
    _ pcm: OpaquePointer, device: String, rate: Int, channels: Int, periodFrames: Int, periods: Int
  ) -> Result<Configuration, ALSAError> {
    var params: OpaquePointer?
    var code = snd_pcm_hw_params_malloc(&params)
    guard code >= 0, let params else { return .failure(error("snd_pcm_hw_params_malloc", device, code)) }
    defer { snd_pcm_hw_params_free(params) }
    code = snd_pcm_hw_params_any(pcm, params)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_any", device, code)) }
    code = snd_pcm_hw_params_set_access(pcm, params, SND_PCM_ACCESS_RW_INTERLEAVED)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_access", device, code)) }
    guard
      let format = SampleFormat.allCases.first(where: {
        snd_pcm_hw_params_test_format(pcm, params, $0.alsa) == 0
      })
    else {
      return .failure(
        ALSAError(
          function: "snd_pcm_hw_params_test_format", device: device, code: -22,
          message: "the device offers none of S16_LE, S32_LE, FLOAT_LE"))
    }
    code = snd_pcm_hw_params_set_format(pcm, params, format.alsa)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_format", device, code)) }
    var channelCount = UInt32(channels)
    code = snd_pcm_hw_params_set_channels_near(pcm, params, &channelCount)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_channels_near", device, code)) }
    var actualRate = UInt32(rate)
    var direction: Int32 = 0
    code = snd_pcm_hw_params_set_rate_near(pcm, params, &actualRate, &direction)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_rate_near", device, code)) }
    var period = snd_pcm_uframes_t(periodFrames)
    code = snd_pcm_hw_params_set_period_size_near(pcm, params, &period, &direction)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_period_size_near", device, code)) }
    var buffer = snd_pcm_uframes_t(periodFrames * periods)
    code = snd_pcm_hw_params_set_buffer_size_near(pcm, params, &buffer)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params_set_buffer_size_near", device, code)) }
    code = snd_pcm_hw_params(pcm, params)
    guard code >= 0 else { return .failure(error("snd_pcm_hw_params", device, code)) }
    return .success(
      Configuration(
        format: format, channels: Int(channelCount), rate: Int(actualRate), periodFrames: Int(period),
        bufferFrames: Int(buffer)))
  }

  /// `snd_pcm_readi`: frames read, or a negative errno. Blocks until `frames` are there.
  @inline(__always)
  static func read(_ pcm: OpaquePointer, _ buffer: UnsafeMutableRawPointer, frames: Int) -> Int {
    #if DEBUG
      if let plan = faultPlan, let code = plan.nextRead() { return Int(code) }
    #endif
    return Int(snd_pcm_readi(pcm, buffer, snd_pcm_uframes_t(frames)))
  }

  /// `snd_pcm_avail`: frames waiting to be read, or a negative errno.
  @inline(__always)
  static func available(_ pcm: OpaquePointer) -> Int { Int(snd_pcm_avail(pcm)) }

  /// `snd_pcm_recover` (silent): after -EPIPE (overrun) or -ESTRPIPE (suspend).
  static func recover(_ pcm: OpaquePointer, _ code: Int32) -> Int32 { snd_pcm_recover(pcm, code, 1) }

  /// `snd_pcm_resume`: -EAGAIN while the device is still suspended.
  static func resume(_ pcm: OpaquePointer) -> Int32 {
    #if DEBUG
      if let plan = faultPlan, let code = plan.nextResume() { return code }
    #endif
    return snd_pcm_resume(pcm)
  }

  #if DEBUG
    /// Debug builds only: a scripted fault plan that ``read(_:_:frames:)`` and ``resume(_:)``
    /// consult before calling libasound (the mocking seam swift-system uses for its syscalls), so
    /// tests can drive the suspend (-ESTRPIPE) and device-gone (-ENODEV) paths that the test PCMs
    /// cannot produce. Set it before a capture starts; nil (the default) calls libasound only.
    nonisolated(unsafe) package static var faultPlan: FaultPlan?

    /// Which calls fail, and how.
    package final class FaultPlan: @unchecked Sendable {
      /// Read number (0-based, every `read` call counts) → the negative errno it returns instead.
      package let readErrors: [Int: Int32]
      /// How many times `resume` answers -EAGAIN (still suspended) before it answers 0.
      package let resumeAgains: Int
      /// Calls seen so far (capture thread).
      package private(set) var reads = 0
      package private(set) var resumes = 0

      /// A plan.
      package init(readErrors: [Int: Int32], resumeAgains: Int = 0) {
        self.readErrors = readErrors
        self.resumeAgains = resumeAgains
      }

      func nextRead() -> Int32? {
        defer { reads += 1 }
        return readErrors[reads]
      }

      func nextResume() -> Int32? {
        defer { resumes += 1 }
        return resumes < resumeAgains ? -EAGAIN : 0
      }
    }
  #endif

  /// `snd_pcm_prepare`.
  static func prepare(_ pcm: OpaquePointer) -> Int32 { snd_pcm_prepare(pcm) }

  /// `snd_pcm_close`.
  static func close(_ pcm: OpaquePointer) { snd_pcm_close(pcm) }

  /// `snd_device_name_hint` for PCMs: name and description of each one that can capture.
  static func captureDevices() -> Result<[(name: String, description: String)], ALSAError> {
    var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    let code = snd_device_name_hint(-1, "pcm", &hints)
    guard code >= 0, let hints else { return .failure(error("snd_device_name_hint", "pcm", code)) }
    defer { snd_device_name_free_hint(hints) }
    func take(_ hint: UnsafeMutableRawPointer, _ key: String) -> String? {
      guard let value = snd_device_name_get_hint(hint, key) else { return nil }
      defer { free(value) }
      return String(cString: value)
    }
    var devices: [(String, String)] = []
    var cursor = hints
    while let hint = cursor.pointee {
      let direction = take(hint, "IOID")
      if direction == nil || direction == "Input", let name = take(hint, "NAME") {
        devices.append((name, take(hint, "DESC")?.split(separator: "\n").joined(separator: ", ") ?? ""))
      }
      cursor += 1
    }
    return .success(devices)
  }
}
