#if canImport(Glibc)
  import Glibc
#endif

/// The batched transform: 16 frames at once.
public typealias LaneFFT16 = LaneFFT<SIMD16<Float>>
/// The transform of one frame (4 lanes, one used), bit for bit what ``LaneFFT16`` gives that frame.
public typealias LaneFFT4 = LaneFFT<SIMD4<Float>>

/// Real FFTs of up to 16 frames at once, one frame per SIMD lane: every butterfly is one vector
/// operation for all 16 frames, so a batch costs about what one frame costs in scalar code.
///
/// Why not kissfft here: kissfft transforms one signal at a time with scalar arithmetic; a
/// multi-stream engine has dozens of frames from different sessions ready at once (Silero VAD's
/// STFT: 4 frames of 256 samples per chunk per session), and this is the shape that lets them share
/// the vector units. Each lane's arithmetic is the same sequence of float additions and
/// multiplications whatever the other lanes hold, so a frame transformed alone (``transform`` with
/// one frame) gives bit for bit the values it gets in a batch of 16.
///
/// The algorithm: the `N`-point real transform is an `N/2`-point complex transform of the
/// even/odd samples packed as real/imaginary parts, then the usual split into `N/2 + 1` bins. The
/// complex transform is a Stockham autosort decimation in frequency (no bit reversal), with radix 4,
/// 2, 3 and 5 stages: `N/2` must factor into those (``init(size:)`` returns nil otherwise).
/// Twiddles are computed in Double and rounded once.
///
/// Generic over the vector `Lanes`: `SIMD16<Float>` for batches (``LaneFFT16``), a narrow vector
/// for frames transformed one at a time (``LaneFFT4``: on a baseline x86-64 build one SSE
/// register, about the cost of scalar code); the per-lane arithmetic is the same whatever the
/// width, so both give a frame the same bits.
public final class LaneFFT<Lanes: SIMD>: @unchecked Sendable where Lanes.Scalar == Float {
  /// Frames per transform at most (the vector's lanes).
  public static var lanes: Int { Lanes.scalarCount }

  /// Real points per frame `N`.
  public let size: Int
  /// Bins per frame, `N/2 + 1`.
  public var bins: Int { half + 1 }
  /// Complex points `N/2`.
  let half: Int
  /// The stages' radices, in order (a buffer: reading an `Array` on the transform's path may
  /// allocate in debug builds).
  let radices: UnsafeMutableBufferPointer<Int>
  /// Per stage, per `j < m`, per `k` in `1..<p`: `(cos, −sin)(2π j k / n)` of that stage's length
  /// `n = m p`, in one array; ``stageOffsets`` gives each stage's start (in pairs).
  let twiddles: UnsafeMutablePointer<Float>
  let stageOffsets: UnsafeMutableBufferPointer<Int>
  /// `(cos, −sin)(2π k / N)` for `k` in `0...N/2`: the real split's twiddles.
  let splitTwiddles: UnsafeMutablePointer<Float>
  /// Working vectors: two ping-pong buffers of `N/2` complex lanes (real parts, then imaginary).
  let work: UnsafeMutablePointer<Lanes>

  /// A plan for `size`-point frames (even, `size/2` a product of 2, 3 and 5, at most 65,536), or
  /// nil when `size` does not fit. Allocates its tables and working buffers here, nothing later.
  public init?(size: Int) {
    guard size >= 4, size <= 65_536, size % 2 == 0 else { return nil }
    let half = size / 2
    var radices: [Int] = []
    var rest = half
    while rest % 4 == 0 {
      radices.append(4)
      rest /= 4
    }
    while rest % 2 == 0 {
      radices.append(2)
      rest /= 2
    }
    while rest % 3 == 0 {
      radices.append(3)
      rest /= 3
    }
    while rest % 5 == 0 {
      radices.append(5)
      rest /= 5
    }
    guard rest == 1 else { return nil }
    self.size = size
    self.half = half
    self.radices = .allocate(capacity: radices.count)
    _ = self.radices.initialize(from: radices)
    var table: [Float] = []
    var offsets: [Int] = []
    var length = half
    for radix in radices {
      offsets.append(table.count / 2)
      let m = length / radix
      for j in 0..<m {
        for k in 1..<radix {
          let angle = 2 * Double.pi * Double(j * k) / Double(length)
          table.append(Float(cos(angle)))
          table.append(Float(-sin(angle)))
        }
      }
      length = m
    }
    twiddles = .allocate(capacity: max(2, table.count))
    twiddles.initialize(repeating: 0, count: max(2, table.count))
    twiddles.update(from: table, count: table.count)
    stageOffsets = .allocate(capacity: offsets.count)
    _ = stageOffsets.initialize(from: offsets)
    splitTwiddles = .allocate(capacity: 2 * (half + 1))
    for k in 0...half {
      let angle = 2 * Double.pi * Double(k) / Double(size)
      splitTwiddles[2 * k] = Float(cos(angle))
      splitTwiddles[2 * k + 1] = Float(-sin(angle))
    }
    work = .allocate(capacity: 4 * half)
    work.initialize(repeating: Lanes(repeating: 0), count: 4 * half)
  }

  deinit {
    radices.deallocate()
    stageOffsets.deallocate()
    twiddles.deallocate()
    splitTwiddles.deallocate()
    work.deallocate()
  }

  /// Transforms `count` frames (1…16): frame `l` is `size` samples from `frames[l]`, each
  /// multiplied by `window[n]` first; the magnitude `sqrt(re² + im²)` of its bin `f` goes to
  /// `outputs[l][f]` (``bins`` values). With `power` true, `re² + im²` instead. Does not allocate
  /// or lock; one thread at a time per plan.
  public func transform(
    _ frames: UnsafePointer<UnsafePointer<Float>>, count: Int, window: UnsafePointer<Float>,
    outputs: UnsafePointer<UnsafeMutablePointer<Float>>, power: Bool = false
  ) {
    let lanes = Lanes.scalarCount
    precondition(count >= 1 && count <= lanes, "1 to \(lanes) frames per transform")
    let half = self.half
    // Even samples become real parts, odd ones imaginary parts, one frame per lane.
    let real = UnsafeMutableRawPointer(work).assumingMemoryBound(to: Float.self)
    let imaginary = UnsafeMutableRawPointer(work + half).assumingMemoryBound(to: Float.self)
    for lane in 0..<lanes {
      if lane < count {
        let frame = frames[lane]
        for n in 0..<half {
          real[n &* lanes &+ lane] = frame[2 &* n] * window[2 &* n]
          imaginary[n &* lanes &+ lane] = frame[2 &* n &+ 1] * window[2 &* n &+ 1]
        }
      } else {
        for n in 0..<half {
          real[n &* lanes &+ lane] = 0
          imaginary[n &* lanes &+ lane] = 0
        }
      }
    }
    let resultInFirst = complexTransform()
    let zr = resultInFirst ? work : work + 2 * half
    let zi = zr + half
    // The split: X[k] = E + W^k O with E = (Z[k] + conj Z[M−k]) / 2, O = −i (Z[k] − conj Z[M−k]) / 2.
    let oneHalf = Lanes(repeating: 0.5)
    for k in 0...half {
      let a = k == half ? 0 : k
      let b = k == 0 ? 0 : half - k
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
      let wr = Lanes(repeating: splitTwiddles[2 * k])
      let wi = Lanes(repeating: splitTwiddles[2 * k + 1])
      let xr = er + (or * wr - oi * wi)
      let xi = ei + (or * wi + oi * wr)
      var value = xr * xr + xi * xi
      if !power { value = value.squareRoot() }
      for lane in 0..<count { outputs[lane][k] = value[lane] }
    }
  }

  /// The complex transform of ``work``'s first buffer; true when the result ended in the first
  /// buffer, false in the second.
  private func complexTransform() -> Bool {
    var sourceReal = work
    var targetReal = work + 2 * half
    var length = half
    var stride = 1
    for stage in 0..<radices.count {
      let radix = radices[stage]
      let m = length / radix
      let sr = sourceReal
      let si = sourceReal + half
      let tr = targetReal
      let ti = targetReal + half
      let table = twiddles + 2 * stageOffsets[stage]
      switch radix {
      case 4: Self.radix4(sr, si, tr, ti, m: m, stride: stride, table: table)
      case 2: Self.radix2(sr, si, tr, ti, m: m, stride: stride, table: table)
      case 3: Self.radix3(sr, si, tr, ti, m: m, stride: stride, table: table)
      default: Self.radix5(sr, si, tr, ti, m: m, stride: stride, table: table)
      }
      let previous = sourceReal
      sourceReal = targetReal
      targetReal = previous
      length = m
      stride &*= radix
    }
    return sourceReal == work
  }

  /// `(r, i) × (wr, wi)`.
  @inline(__always)
  private static func rotate(_ r: Lanes, _ i: Lanes, _ table: UnsafePointer<Float>) -> (Lanes, Lanes) {
    let wr = Lanes(repeating: table[0])
    let wi = Lanes(repeating: table[1])
    return (r * wr - i * wi, r * wi + i * wr)
  }

  private static func radix2(
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
        let (r, i) = rotate(sr[a] - sr[b], si[a] - si[b], w)
        tr[out &+ s] = r
        ti[out &+ s] = i
      }
    }
  }

  private static func radix4(
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
        let (r1, i1v) = rotate(difR + oddDifI, difI - oddDifR, w)
        let (r2, i2v) = rotate(sumR - oddSumR, sumI - oddSumI, w + 2)
        let (r3, i3v) = rotate(difR - oddDifI, difI + oddDifR, w + 4)
        tr[out &+ s] = r1
        ti[out &+ s] = i1v
        tr[out &+ 2 &* s] = r2
        ti[out &+ 2 &* s] = i2v
        tr[out &+ 3 &* s] = r3
        ti[out &+ 3 &* s] = i3v
      }
    }
  }

  private static func radix3(
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
        let (r1, i1v) = rotate(midR + turnI, midI - turnR, w)
        let (r2, i2v) = rotate(midR - turnI, midI + turnR, w + 2)
        tr[out &+ s] = r1
        ti[out &+ s] = i1v
        tr[out &+ 2 &* s] = r2
        ti[out &+ 2 &* s] = i2v
      }
    }
  }

  private static func radix5(
    _ sr: UnsafeMutablePointer<Lanes>, _ si: UnsafeMutablePointer<Lanes>, _ tr: UnsafeMutablePointer<Lanes>,
    _ ti: UnsafeMutablePointer<Lanes>, m: Int, stride s: Int, table: UnsafePointer<Float>
  ) {
    let c1 = Lanes(repeating: Float(cos(2 * Double.pi / 5)))
    let c2 = Lanes(repeating: Float(cos(4 * Double.pi / 5)))
    let s1 = Lanes(repeating: Float(sin(2 * Double.pi / 5)))
    let s2 = Lanes(repeating: Float(sin(4 * Double.pi / 5)))
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
        let (r1, v1) = rotate(m1r + n1i, m1i - n1r, w)
        let (r2, v2) = rotate(m2r + n2i, m2i - n2r, w + 2)
        let (r3, v3) = rotate(m2r - n2i, m2i + n2r, w + 4)
        let (r4, v4) = rotate(m1r - n1i, m1i + n1r, w + 6)
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
}
