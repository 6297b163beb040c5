#if canImport(Glibc)
  import Glibc
#endif

/// An element-wise activation with PyTorch's eval-mode definition (Keras' where it names the same
/// function). Float arithmetic through the C library (`expf`, `tanhf`, `erff`, `log1pf`), each
/// within an ulp or two of PyTorch's vectorised versions.
public enum Activation: Sendable, Equatable {
  /// `x`.
  case identity
  /// `max(0, x)`.
  case relu
  /// `x ≥ 0 ? x : slope · x` (`nn.LeakyReLU(negative_slope)`).
  case leakyReLU(slope: Float)
  /// `x ≥ 0 ? x : w · x` with one `w` for every feature, or a single `w` for all
  /// (`nn.PReLU(num_parameters)`).
  case prelu(weights: [Float])
  /// `x > 0 ? x : α (eˣ − 1)` (`nn.ELU(alpha)`).
  case elu(alpha: Float)
  /// `x Φ(x) = ½ x (1 + erf(x / √2))` (`nn.GELU()`).
  case gelu
  /// `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))` (`nn.GELU(approximate="tanh")`).
  case geluTanh
  /// `x σ(x)` (`nn.SiLU`, swish).
  case silu
  /// `tanh(x)`.
  case tanh
  /// `σ(x) = 1 / (1 + e⁻ˣ)`.
  case sigmoid
  /// `min(max(x, lower), upper)` (`nn.Hardtanh(min_val, max_val)`; ReLU6 is 0…6).
  case hardtanh(lower: Float, upper: Float)
  /// `β x > threshold ? x : log(1 + e^(β x)) / β` (`nn.Softplus(beta, threshold)`).
  case softplus(beta: Float, threshold: Float)

  /// Applies the activation in place to `count` features. Does not allocate or lock.
  @inline(__always)
  func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
    switch self {
    case .identity:
      return
    case .relu:
      for index in 0..<count where !(values[index] > 0) { values[index] = values[index].isNaN ? .nan : 0 }
    case .leakyReLU(let slope):
      for index in 0..<count where values[index] < 0 { values[index] *= slope }
    case .prelu(let weights):
      weights.withUnsafeBufferPointer { w in
        let shared = w.count == 1
        for index in 0..<count where values[index] < 0 { values[index] *= w[shared ? 0 : index] }
      }
    case .elu(let alpha):
      for index in 0..<count where !(values[index] > 0) && !values[index].isNaN {
        values[index] = alpha * expm1f(values[index])
      }
    case .gelu:
      for index in 0..<count {
        let x = values[index]
        values[index] = 0.5 * x * (1 + erff(x * 0.707_106_77))
      }
    case .geluTanh:
      for index in 0..<count {
        let x = values[index]
        values[index] = 0.5 * x * (1 + tanhf(0.797_884_6 * (x + 0.044715 * x * x * x)))
      }
    case .silu:
      for index in 0..<count { values[index] *= logistic(values[index]) }
    case .tanh:
      for index in 0..<count { values[index] = tanhf(values[index]) }
    case .sigmoid:
      for index in 0..<count { values[index] = logistic(values[index]) }
    case .hardtanh(let lower, let upper):
      for index in 0..<count { values[index] = min(max(values[index], lower), upper) }
    case .softplus(let beta, let threshold):
      for index in 0..<count {
        let scaled = beta * values[index]
        if !(scaled > threshold) { values[index] = log1pf(expf(scaled)) / beta }
      }
    }
  }
}

/// `1 / (1 + e⁻ˣ)`, without overflow for large |x|.
@inline(__always)
func logistic(_ x: Float) -> Float {
  if x >= 0 { return 1 / (1 + expf(-x)) }
  let e = expf(x)
  return e / (1 + e)
}
