// Real FFTs of several frames at once, one frame per SIMD lane (see Features/LaneFFT.swift for
// the algorithm and the plan). Compiled per instruction set with Kernels.swift (linked into each
// kernel target), so a 16-lane vector is one AVX-512 register where the CPU has them. Only separate
// multiplications and additions: every build, and the 1- and 16-lane entry points, give a lane the
// same bits. Nothing here allocates, locks or throws.

/// The transform of `count` frames (at most 16), 16 lanes. `plan`: `[half, stageCount, splitOffset,
/// radix₀, offset₀, radix₁, offset₁, …]`; `twiddles`: each stage's `(cos, −sin)` pairs from its
/// offset (in floats), the split's from `splitOffset`; `work`: `4 · half · 16` floats, 64-byte
/// aligned. Outputs: `|X|` per bin, or `|X|²` with `power`: bin `f` of frame `l` at
/// `outputs[l][f]`, or with `interleaved` at `outputs[0][f · 16 + l]` (one `[bins][16]` buffer, the
/// lanes past `count` holding what their zeros give).
@inline(never)
public func laneRealFFT16(
  _ frames: UnsafePointer<UnsafePointer<Float>>, _ count: Int, _ window: UnsafePointer<Float>,
  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>, _ power: Bool, _ interleaved: Bool,
  _ plan: UnsafePointer<Int>, _ twiddles: UnsafePointer<Float>, _ work: UnsafeMutableRawPointer
) {
  laneRealFFT(SIMD16<Float>.self, frames, count, window, outputs, power, interleaved, plan, twiddles, work)
}

/// ``laneRealFFT16`` for one frame, in scalar arithmetic (`work`: `4 · half` floats): the same
/// operations on the same values as the frame's lane of a 16-lane transform, so the same bits.
@inline(never)
public func laneRealFFT1(
  _ frames: UnsafePointer<UnsafePointer<Float>>, _ count: Int, _ window: UnsafePointer<Float>,
  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>, _ power: Bool, _ interleaved: Bool,
  _ plan: UnsafePointer<Int>, _ twiddles: UnsafePointer<Float>, _ work: UnsafeMutableRawPointer
) {
  laneRealFFT(Float.self, frames, count, window, outputs, power, interleaved, plan, twiddles, work)
}

/// Mel filterbank sums of 16 frames at once, from ``laneRealFFT16``'s interleaved output:
/// `output[m · 16 + l] = Σ_j weights[start_m + j] · spectrum[(first_m + j) · 16 + l]` for `j` in
/// `0 ..< span_m`, summed in that order with separate multiplications and additions — for each lane
/// the same operations, so the same bits, as a scalar loop over one frame (``laneMel1``).
/// `table`: `[melCount][3]` (`first_m`, `span_m`, `start_m`).
@inline(never)
public func laneMel16(
  _ spectrum: UnsafePointer<Float>, _ table: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
  _ melCount: Int, _ output: UnsafeMutablePointer<Float>
) {
  laneMel(SIMD16<Float>.self, spectrum, table, weights, melCount, output)
}

/// ``laneMel16`` for one frame (`spectrum` `[bins]`, `output` `[melCount]`), in scalar arithmetic.
@inline(never)
public func laneMel1(
  _ spectrum: UnsafePointer<Float>, _ table: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
  _ melCount: Int, _ output: UnsafeMutablePointer<Float>
) {
  laneMel(Float.self, spectrum, table, weights, melCount, output)
}

@inline(__always)
func laneMel<Lanes: FFTLanes>(
  _: Lanes.Type, _ spectrum: UnsafePointer<Float>, _ table: UnsafePointer<Int>,
  _ weights: UnsafePointer<Float>,
  _ melCount: Int, _ output: UnsafeMutablePointer<Float>
) {
  let lanes = Lanes.laneCount
  for mel in 0..<melCount {
    let first = table[3 &* mel]
    let span = table[3 &* mel &+ 1]
    let row = weights + table[3 &* mel &+ 2]
    var sum = Lanes(repeating: 0)
    for index in 0..<span {
      sum = sum + Lanes(repeating: row[index]) * Lanes.loadLanes(spectrum + (first &+ index) &* lanes)
    }
    sum.storeLanes(output + mel &* lanes)
  }
}

/// The values one butterfly works on: a vector of frames' values (`SIMD16<Float>`) or one frame's
/// (`Float`), with the same arithmetic lane by lane.
protocol FFTLanes {
  static var laneCount: Int { get }
  init(repeating value: Float)
  static func + (a: Self, b: Self) -> Self
  static func - (a: Self, b: Self) -> Self
  static func * (a: Self, b: Self) -> Self
  static prefix func - (a: Self) -> Self
  func squareRoot() -> Self
  subscript(lane lane: Int) -> Float { get }
  /// `laneCount` floats from `pointer` (no alignment needed).
  static func loadLanes(_ pointer: UnsafePointer<Float>) -> Self
  /// Writes the `laneCount` floats to `pointer` (no alignment needed).
  func storeLanes(_ pointer: UnsafeMutablePointer<Float>)
}

extension SIMD16: FFTLanes where Scalar == Float {
  static var laneCount: Int { 16 }
  subscript(lane lane: Int) -> Float { self[lane] }
  @_transparent static func loadLanes(_ pointer: UnsafePointer<Float>) -> Self {
    UnsafeRawPointer(pointer).loadUnaligned(as: Self.self)
  }
  @_transparent func storeLanes(_ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self)
  }
}

extension Float: FFTLanes {
  static var laneCount: Int { 1 }
  @_transparent init(repeating value: Float) { self = value }
  subscript(lane lane: Int) -> Float { self }
  @_transparent static func loadLanes(_ pointer: UnsafePointer<Float>) -> Self { pointer.pointee }
  @_transparent func storeLanes(_ pointer: UnsafeMutablePointer<Float>) { pointer.pointee = self }
}

@inline(__always)
func laneRealFFT<Lanes: FFTLanes>(
  _: Lanes.Type, _ frames: UnsafePointer<UnsafePointer<Float>>, _ count: Int, _ window: UnsafePointer<Float>,
  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>, _ power: Bool, _ interleaved: Bool,
  _ plan: UnsafePointer<Int>, _ twiddles: UnsafePointer<Float>, _ work: UnsafeMutableRawPointer
) {
  let lanes = Lanes.laneCount
  let half = plan[0]
  let stages = plan[1]
  let vectors = work.assumingMemoryBound(to: Lanes.self)
  // Even samples become real parts, odd ones imaginary parts, one frame per lane (lanes past
  // `count` are left as they are: lanes do not mix; the caller zeroes them when they held frames).
  let real = work.assumingMemoryBound(to: Float.self)
  let imaginary = UnsafeMutableRawPointer(vectors + half).assumingMemoryBound(to: Float.self)
  // (Sample by sample, frames inside: the stores are contiguous. Frame by frame, the compiler
  // made AVX-512 scatter stores of them, slow on AMD's cores; this order took 2–6 % off a GRU +
  // log-mel frame in two alternating runs on Zen 5. Most of what is left here is waiting for the
  // 16 sessions' frames to come in from cache.)
  for n in 0..<half {
    let evenWeight = window[2 &* n]
    let oddWeight = window[2 &* n &+ 1]
    for lane in 0..<count {
      let frame = frames[lane]
      real[n &* lanes &+ lane] = frame[2 &* n] * evenWeight
      imaginary[n &* lanes &+ lane] = frame[2 &* n &+ 1] * oddWeight
    }
  }
  // The complex transform, ping-ponging between the two halves of `work`.
  var sourceReal = vectors
  var targetReal = vectors + 2 &* half
  var length = half
  var stride = 1
  for stage in 0..<stages {
    let radix = plan[3 &+ 2 &* stage]
    let table = twiddles + plan[4 &+ 2 &* stage]
    let m = length / radix
    let sr = sourceReal
    let si = sourceReal + half
    let tr = targetReal
    let ti = targetReal + half
    switch radix {
    case 4: fftRadix4(sr, si, tr, ti, m: m, stride: stride, table: table)
    case 2: fftRadix2(sr, si, tr, ti, m: m, stride: stride, table: table)
    case 3: fftRadix3(sr, si, tr, ti, m: m, stride: stride, table: table)
    default: fftRadix5(sr, si, tr, ti, m: m, stride: stride, table: table)
    }
    let previous = sourceReal
    sourceReal = targetReal
    targetReal = previous
    length = m
    stride &*= radix
  }
  let zr = sourceReal
  let zi = sourceReal + half
  // The split: X[k] = E + W^k O with E = (Z[k] + conj Z[M−k]) / 2, O = −i (Z[k] − conj Z[M−k]) / 2.
  let oneHalf = Lanes(repeating: 0.5)
  let split = twiddles + plan[2]
  for k in 0...half {
    let a = k == half ? 0 : k
    let b = k == 0 ? 0 : half &- k
    let ar = zr[a]
    let ai = zi[a]
    let br = zr[b]
    let bi = zi[b]
    let er = (ar + br) * oneHalf
    let ei = (ai - bi) * oneHalf
    let dr = (ar - br) * oneHalf
    let di = (ai + bi) * oneHalf
    // O = −i D = (D.im, −D.re)
    let or = di
    let oi = -dr
    let wr = Lanes(repeating: split[2 &* k])
    let wi = Lanes(repeating: split[2 &* k &+ 1])
    let xr = er + (or * wr - oi * wi)
    let xi = ei + (or * wi + oi * wr)
    var value = xr * xr + xi * xi
    if !power { value = value.squareRoot() }
    if interleaved {
      value.storeLanes(outputs[0] + k &* lanes)
    } else {
      for lane in 0..<count { outputs[lane][k] = value[lane: lane] }
    }
  }
}

/// `(r, i) × (wr, wi)`.
@_transparent
func fftRotate<Lanes: FFTLanes>(_ r: Lanes, _ i: Lanes, _ table: UnsafePointer<Float>) -> (Lanes, Lanes) {
  let wr = Lanes(repeating: table[0])
  let wi = Lanes(repeating: table[1])
  return (r * wr - i * wi, r * wi + i * wr)
}

@inline(__always)
func fftRadix2<Lanes: FFTLanes>(
  _ sr: UnsafeMutablePointer<Lanes>, _ si: UnsafeMutablePointer<Lanes>, _ tr: UnsafeMutablePointer<Lanes>,
  _ ti: UnsafeMutablePointer<Lanes>, m: Int, stride s: Int, table: UnsafePointer<Float>
) {
  for j in 0..<m {
    let w = table + 2 * j
    for q in 0..<s {
      let a = q &+ s &* j
      let b = a &+ s &* m
      let out = q &+ s &* 2 &* j
      tr[out] = sr[a] + sr[b]
      ti[out] = si[a] + si[b]
      let (r, i) = fftRotate(sr[a] - sr[b], si[a] - si[b], w)
      tr[out &+ s] = r
      ti[out &+ s] = i
    }
  }
}

@inline(__always)
func fftRadix4<Lanes: FFTLanes>(
  _ sr: UnsafeMutablePointer<Lanes>, _ si: UnsafeMutablePointer<Lanes>, _ tr: UnsafeMutablePointer<Lanes>,
  _ ti: UnsafeMutablePointer<Lanes>, m: Int, stride s: Int, table: UnsafePointer<Float>
) {
  for j in 0..<m {
    let w = table + 6 * j
    for q in 0..<s {
      let i0 = q &+ s &* j
      let i1 = i0 &+ s &* m
      let i2 = i1 &+ s &* m
      let i3 = i2 &+ s &* m
      let sumR = sr[i0] + sr[i2]
      let sumI = si[i0] + si[i2]
      let difR = sr[i0] - sr[i2]
      let difI = si[i0] - si[i2]
      let oddSumR = sr[i1] + sr[i3]
      let oddSumI = si[i1] + si[i3]
      let oddDifR = sr[i1] - sr[i3]
      let oddDifI = si[i1] - si[i3]
      let out = q &+ s &* 4 &* j
      tr[out] = sumR + oddSumR
      ti[out] = sumI + oddSumI
      // b1 = d − i t, b2 = sum − oddSum, b3 = d + i t (t = a1 − a3).
      let (r1, i1v) = fftRotate(difR + oddDifI, difI - oddDifR, w)
      let (r2, i2v) = fftRotate(sumR - oddSumR, sumI - oddSumI, w + 2)
      let (r3, i3v) = fftRotate(difR - oddDifI, difI + oddDifR, w + 4)
      tr[out &+ s] = r1
      ti[out &+ s] = i1v
      tr[out &+ 2 &* s] = r2
      ti[out &+ 2 &* s] = i2v
      tr[out &+ 3 &* s] = r3
      ti[out &+ 3 &* s] = i3v
    }
  }
}

@inline(__always)
func fftRadix3<Lanes: FFTLanes>(
  _ sr: UnsafeMutablePointer<Lanes>, _ si: UnsafeMutablePointer<Lanes>, _ tr: UnsafeMutablePointer<Lanes>,
  _ ti: UnsafeMutablePointer<Lanes>, m: Int, stride s: Int, table: UnsafePointer<Float>
) {
  let half = Lanes(repeating: 0.5)
  let sine = Lanes(repeating: Float(3.0.squareRoot() / 2))
  for j in 0..<m {
    let w = table + 4 * j
    for q in 0..<s {
      let i0 = q &+ s &* j
      let i1 = i0 &+ s &* m
      let i2 = i1 &+ s &* m
      let sumR = sr[i1] + sr[i2]
      let sumI = si[i1] + si[i2]
      let midR = sr[i0] - sumR * half
      let midI = si[i0] - sumI * half
      let turnR = (sr[i1] - sr[i2]) * sine
      let turnI = (si[i1] - si[i2]) * sine
      let out = q &+ s &* 3 &* j
      tr[out] = sr[i0] + sumR
      ti[out] = si[i0] + sumI
      let (r1, i1v) = fftRotate(midR + turnI, midI - turnR, w)
      let (r2, i2v) = fftRotate(midR - turnI, midI + turnR, w + 2)
      tr[out &+ s] = r1
      ti[out &+ s] = i1v
      tr[out &+ 2 &* s] = r2
      ti[out &+ 2 &* s] = i2v
    }
  }
}

@inline(__always)
func fftRadix5<Lanes: FFTLanes>(
  _ sr: UnsafeMutablePointer<Lanes>, _ si: UnsafeMutablePointer<Lanes>, _ tr: UnsafeMutablePointer<Lanes>,
  _ ti: UnsafeMutablePointer<Lanes>, m: Int, stride s: Int, table: UnsafePointer<Float>
) {
  // cos and sin of 2π/5 and 4π/5.
  let c1 = Lanes(repeating: 0.309_016_994_374_947_45)
  let c2 = Lanes(repeating: -0.809_016_994_374_947_5)
  let s1 = Lanes(repeating: 0.951_056_516_295_153_5)
  let s2 = Lanes(repeating: 0.587_785_252_292_473_2)
  for j in 0..<m {
    let w = table + 8 * j
    for q in 0..<s {
      let i0 = q &+ s &* j
      let i1 = i0 &+ s &* m
      let i2 = i1 &+ s &* m
      let i3 = i2 &+ s &* m
      let i4 = i3 &+ s &* m
      let t1r = sr[i1] + sr[i4]
      let t1i = si[i1] + si[i4]
      let t2r = sr[i2] + sr[i3]
      let t2i = si[i2] + si[i3]
      let t3r = sr[i1] - sr[i4]
      let t3i = si[i1] - si[i4]
      let t4r = sr[i2] - sr[i3]
      let t4i = si[i2] - si[i3]
      let m1r = sr[i0] + c1 * t1r + c2 * t2r
      let m1i = si[i0] + c1 * t1i + c2 * t2i
      let m2r = sr[i0] + c2 * t1r + c1 * t2r
      let m2i = si[i0] + c2 * t1i + c1 * t2i
      let n1r = s1 * t3r + s2 * t4r
      let n1i = s1 * t3i + s2 * t4i
      let n2r = s2 * t3r - s1 * t4r
      let n2i = s2 * t3i - s1 * t4i
      let out = q &+ s &* 5 &* j
      tr[out] = sr[i0] + t1r + t2r
      ti[out] = si[i0] + t1i + t2i
      // b1 = m1 − i n1, b2 = m2 − i n2, b3 = m2 + i n2, b4 = m1 + i n1.
      let (r1, v1) = fftRotate(m1r + n1i, m1i - n1r, w)
      let (r2, v2) = fftRotate(m2r + n2i, m2i - n2r, w + 2)
      let (r3, v3) = fftRotate(m2r - n2i, m2i + n2r, w + 4)
      let (r4, v4) = fftRotate(m1r - n1i, m1i + n1r, w + 6)
      tr[out &+ s] = r1
      ti[out &+ s] = v1
      tr[out &+ 2 &* s] = r2
      ti[out &+ 2 &* s] = v2
      tr[out &+ 3 &* s] = r3
      ti[out &+ 3 &* s] = v3
      tr[out &+ 4 &* s] = r4
      ti[out &+ 4 &* s] = v4
    }
  }
}
