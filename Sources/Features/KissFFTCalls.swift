import CKissFFT

#if canImport(Glibc)
  import Glibc
#endif

/// Every kissfft call StreamRNN makes lives here.
///
/// Why kissfft (Debian `libkissfft-dev`): a maintained library, accurate to float32 round-off, and
/// for the 400–512-point transforms of speech features it is fast enough for the aim of a few µs
/// per frame (see the README's feature benchmark).
/// Real-time note: kissfft's generic butterfly allocates scratch on every call for prime factors
/// above 5, so ``PowerSpectrum`` refuses such sizes.
enum KissFFTCalls {
  static func allocateReal(size: Int) -> kiss_fftr_cfg? { kiss_fftr_alloc(Int32(size), 0, nil, nil) }
  static func allocateComplex(size: Int) -> kiss_fft_cfg? { kiss_fft_alloc(Int32(size), 0, nil, nil) }
  static func real(
    _ cfg: kiss_fftr_cfg, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<kiss_fft_cpx>
  ) {
    kiss_fftr(cfg, input, output)
  }
  static func complex(
    _ cfg: kiss_fft_cfg, _ input: UnsafePointer<kiss_fft_cpx>, _ output: UnsafeMutablePointer<kiss_fft_cpx>
  ) {
    kiss_fft(cfg, input, output)
  }
  /// `kiss_fftr_free` / `kiss_fft_free` are `free` (KISS_FFT_FREE).
  static func release(_ cfg: UnsafeMutableRawPointer?) { free(cfg) }
}

/// `|FFT(x)|^power` of a real frame: `size / 2 + 1` bins (DC to Nyquist), as
/// `torch.stft(...).abs().pow(power)` and Kaldi's `rfft().abs().pow(2)` compute it.
/// All buffers are allocated in `init`; ``compute(_:into:)`` does not allocate or lock.
final class PowerSpectrum {
  let size: Int
  let binCount: Int
  let power: Float
  private let realConfig: kiss_fftr_cfg?
  private let complexConfig: kiss_fft_cfg?
  private let complexInput: UnsafeMutablePointer<kiss_fft_cpx>
  private let spectrum: UnsafeMutablePointer<kiss_fft_cpx>

  /// Sizes whose prime factors are all 2, 3 or 5 (kissfft runs those without allocating).
  static func isSupported(size: Int) -> Bool {
    guard size >= 2 else { return false }
    var rest = size
    for factor in [2, 3, 5] { while rest % factor == 0 { rest /= factor } }
    return rest == 1
  }

  init(size: Int, power: Float) {
    precondition(Self.isSupported(size: size), "FFT size \(size) has a prime factor above 5")
    self.size = size
    self.binCount = size / 2 + 1
    self.power = power
    if size % 2 == 0 {
      realConfig = KissFFTCalls.allocateReal(size: size)
      complexConfig = nil
    } else {
      realConfig = nil
      complexConfig = KissFFTCalls.allocateComplex(size: size)
    }
    complexInput = .allocate(capacity: size)
    complexInput.initialize(repeating: kiss_fft_cpx(r: 0, i: 0), count: size)
    spectrum = .allocate(capacity: size)
    spectrum.initialize(repeating: kiss_fft_cpx(r: 0, i: 0), count: size)
  }

  deinit {
    KissFFTCalls.release(UnsafeMutableRawPointer(realConfig))
    KissFFTCalls.release(UnsafeMutableRawPointer(complexConfig))
    complexInput.deallocate()
    spectrum.deallocate()
  }

  /// Writes `binCount` values of `|X_k|^power` for the `size` samples at `frame`.
  func compute(_ frame: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
    if let realConfig {
      KissFFTCalls.real(realConfig, frame, spectrum)
    } else if let complexConfig {
      for index in 0..<size { complexInput[index] = kiss_fft_cpx(r: frame[index], i: 0) }
      KissFFTCalls.complex(complexConfig, complexInput, spectrum)
    }
    if power == 2 {
      for bin in 0..<binCount {
        output[bin] = spectrum[bin].r * spectrum[bin].r + spectrum[bin].i * spectrum[bin].i
      }
    } else if power == 1 {
      for bin in 0..<binCount {
        output[bin] = (spectrum[bin].r * spectrum[bin].r + spectrum[bin].i * spectrum[bin].i).squareRoot()
      }
    } else {
      for bin in 0..<binCount {
        output[bin] = powf(
          (spectrum[bin].r * spectrum[bin].r + spectrum[bin].i * spectrum[bin].i).squareRoot(), power)
      }
    }
  }
}
