#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

// Portable float32 kernels. They use 8-lane SIMD without fused multiply-add: PyTorch's own
// reductions round differently anyway, and unfused code is exact-enough (see the golden tests,
// ≤ 1e-5) on every CPU the toolchain targets.

/// `y[r] = b[r] + Σ_k W[r, k] · x[k]` for `W` `[rows, columns]` row-major (`b = 0` when nil).
/// With `accumulate`, adds that to `y[r]` instead. Does not allocate or lock.
@inline(__always)
func matrixVector(
  _ weights: UnsafePointer<Float>, rows: Int, columns: Int, _ x: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
  let vectorColumns = columns & ~7
  @inline(__always) func b(_ row: Int) -> Float { bias?[row] ?? 0 }
  var row = 0
  // Four rows per pass: x is loaded once for four independent accumulator chains.
  while row + 4 <= rows {
    let w0 = weights + row * columns
    let w1 = w0 + columns
    let w2 = w1 + columns
    let w3 = w2 + columns
    var a0 = SIMD8<Float>()
    var a1 = SIMD8<Float>()
    var a2 = SIMD8<Float>()
    var a3 = SIMD8<Float>()
    var k = 0
    while k < vectorColumns {
      let xv = load8(x + k)
      a0 += load8(w0 + k) * xv
      a1 += load8(w1 + k) * xv
      a2 += load8(w2 + k) * xv
      a3 += load8(w3 + k) * xv
      k += 8
    }
    var s0 = a0.sum()
    var s1 = a1.sum()
    var s2 = a2.sum()
    var s3 = a3.sum()
    while k < columns {
      let xk = x[k]
      s0 += w0[k] * xk
      s1 += w1[k] * xk
      s2 += w2[k] * xk
      s3 += w3[k] * xk
      k += 1
    }
    if accumulate {
      y[row] += b(row) + s0
      y[row + 1] += b(row + 1) + s1
      y[row + 2] += b(row + 2) + s2
      y[row + 3] += b(row + 3) + s3
    } else {
      y[row] = b(row) + s0
      y[row + 1] = b(row + 1) + s1
      y[row + 2] = b(row + 2) + s2
      y[row + 3] = b(row + 3) + s3
    }
    row += 4
  }
  while row < rows {
    let w = weights + row * columns
    var a = SIMD8<Float>()
    var k = 0
    while k < vectorColumns {
      a += load8(w + k) * load8(x + k)
      k += 8
    }
    var s = a.sum()
    while k < columns {
      s += w[k] * x[k]
      k += 1
    }
    y[row] = (accumulate ? y[row] : 0) + (b(row) + s)
    row += 1
  }
}

@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}

/// The logistic function `1 / (1 + e^-x)`, via the C library's correctly rounded-ish `expf`.
@inline(__always)
func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// `tanh` from the C library (≤ 1 ulp on glibc).
@inline(__always)
func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }

/// `e^x` from the C library.
@inline(__always)
func exponential(_ x: Float) -> Float { expf(x) }
