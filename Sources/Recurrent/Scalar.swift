#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

// Scalar math for the classifier head's activation (a handful of values per frame).

/// The logistic function `1 / (1 + e^-x)`.
@inline(__always)
func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// `e^x` from the C library.
@inline(__always)
func exponential(_ x: Float) -> Float { expf(x) }

/// The process environment's value for `name`, if set.
func environmentValue(_ name: String) -> String? {
  getenv(name).map { String(cString: $0) }
}
