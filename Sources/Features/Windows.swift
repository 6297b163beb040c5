#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Window functions as PyTorch and torchaudio's Kaldi compliance module define them.
///
/// Values are computed in float32 with PyTorch's operation order (`arange · (2π/(N−1))`, `cos`,
/// `· −β`, `+ α`), not in double: the bar is PyTorch's float32 output, and near the window's edges
/// float32 cancellation makes the two differ by up to 1e-3 relative.
public enum WindowFunction: String, Sendable, CaseIterable {
  /// `torch.hann_window(N, periodic=False)`: `0.5 − 0.5 cos(2πn / (N−1))`. Kaldi's "hanning".
  case hanning
  /// `torch.hamming_window(N, periodic=False)`: `0.54 − 0.46 cos(2πn / (N−1))`.
  case hamming
  /// Kaldi's default: the symmetric Hann window raised to 0.85.
  case povey
  /// All ones.
  case rectangular
  /// Kaldi's Blackman: `0.42 − 0.5 cos(2πn/(N−1)) + 0.08 cos(4πn/(N−1))`.
  case blackman

  /// `length` window values.
  public func values(length: Int) -> [Float] {
    guard length > 1 else { return [Float](repeating: 1, count: max(length, 0)) }
    switch self {
    case .hanning: return cosineWindow(length: length, periodic: false, alpha: 0.5, beta: 0.5)
    case .hamming: return cosineWindow(length: length, periodic: false, alpha: 0.54, beta: 0.46)
    case .povey:
      return cosineWindow(length: length, periodic: false, alpha: 0.5, beta: 0.5).map { powf($0, 0.85) }
    case .rectangular: return [Float](repeating: 1, count: length)
    case .blackman:
      // torchaudio: 0.42 - 0.5 cos(a n) + (0.5 - 0.42) cos(2 a n), a = 2π/(N−1), in float32.
      let a = Float(2 * Double.pi / Double(length - 1))
      let twoA = Float(2 * (2 * Double.pi / Double(length - 1)))
      return (0..<length).map { index in
        let n = Float(index)
        return Float(0.42) - Float(0.5) * cosf(a * n) + Float(0.5 - 0.42) * cosf(twoA * n)
      }
    }
  }
}

/// `torch.hamming_window(length, periodic, alpha, beta)` in float32 (Hann is alpha = beta = 0.5):
/// a periodic window is the symmetric window of `length + 1` without its last value.
func cosineWindow(length: Int, periodic: Bool, alpha: Float, beta: Float) -> [Float] {
  let span = periodic ? length : length - 1
  let step = Float(2 * Double.pi / Double(span))
  return (0..<length).map { index in (cosf(Float(index) * step) * -beta) + alpha }
}

/// `torch.hann_window(length, periodic=True)`, the window `torchaudio.transforms.Spectrogram` uses.
func periodicHannWindow(length: Int) -> [Float] {
  cosineWindow(length: length, periodic: true, alpha: 0.5, beta: 0.5)
}
