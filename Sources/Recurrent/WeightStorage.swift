/// How a model keeps its matrix weights for the step.
///
/// `.float32` (the default) is exact: PyTorch's float32 weights as they are. `.float16` rounds
/// each weight to the nearest float16 at load and widens it back to float32 in registers as the
/// step streams it: half the bytes per step, for models whose weights do not fit the cache.
/// Biases, states and all arithmetic stay float32; only the weights lose precision (float16 keeps
/// 11 significant bits, a relative rounding error ≤ 4.9e-4 per weight). Its measured distance to
/// PyTorch is in the README; it is never chosen for you. It needs a kernel with F16C to be fast:
/// on x86-64 the portable kernel converts in software, 25–35x slower than float32 (measured); the
/// AVX2 and AVX-512 kernels convert in registers.
public enum WeightStorage: String, Sendable, CaseIterable {
  /// float32 weights, exact.
  case float32 = "f32"
  /// float16 weights, widened in registers (F16C on x86-64).
  case float16 = "f16"
}
