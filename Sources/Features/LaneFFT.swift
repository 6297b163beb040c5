import Recurrent

#if canImport(Glibc)
  import Glibc
#endif

/// Real FFTs of up to 16 frames at once, one frame per SIMD lane: every butterfly is one vector
/// operation for all the frames, so a batch of 16 costs about what one frame costs in scalar code.
///
/// Why not kissfft here: kissfft transforms one signal at a time with scalar arithmetic; a
/// multi-stream engine has dozens of frames from different sessions ready at once (Silero VAD's
/// STFT: 4 frames of 256 samples per chunk per session; log-mel: a frame per session per hop), and
/// this is the shape that lets them share the vector units.
///
/// The algorithm: the `N`-point real transform is an `N/2`-point complex transform of the
/// even/odd samples packed as real/imaginary parts, then the usual split into `N/2 + 1` bins. The
/// complex transform is a Stockham autosort decimation in frequency (no bit reversal), with radix 4,
/// 2, 3 and 5 stages: `N/2` must factor into those (``init(size:lanes:)`` returns nil otherwise).
/// Twiddles are computed in Double and rounded once. The butterflies run in the recurrent kernels'
/// build for this CPU (``LaneFFTKernel``: AVX-512, AVX2 or portable), with separate multiplications
/// and additions only, so a frame's bits do not depend on the lanes it shares a transform with, nor
/// on the plan's width: a frame transformed alone by a 1-lane (scalar) plan equals the same frame in
/// a 16-lane batch, bit for bit.
public final class LaneFFT: @unchecked Sendable {
  /// Real points per frame `N`.
  public let size: Int
  /// Bins per frame, `N/2 + 1`.
  public var bins: Int { half + 1 }
  /// Frames per transform at most: 16, or 1 (scalar arithmetic, for frames one at a time).
  public let lanes: Int
  /// Complex points `N/2`.
  let half: Int
  /// `[half, stageCount, splitOffset, radix₀, offset₀, radix₁, offset₁, …]`.
  let plan: UnsafeMutablePointer<Int>
  /// Per stage, per `j < m`, per `k` in `1..<p`: `(cos, −sin)(2π j k / n)` of that stage's length
  /// `n = m p`; then `(cos, −sin)(2π k / N)` for `k` in `0...N/2` (the real split's).
  let twiddles: UnsafeMutablePointer<Float>
  /// Two ping-pong buffers of `N/2` complex vectors of ``lanes`` floats.
  let work: UnsafeMutableRawPointer
  let kernel: LaneFFTKernel.Transform
  /// Lanes the last transform filled (the others are zeros in the first buffer).
  private var usedLanes = 0

  /// A plan for `size`-point frames (even, `size/2` a product of 2, 3 and 5, at most 65,536) and
  /// `lanes` (16 or 1) frames per transform, or nil when they do not fit. Allocates its tables and
  /// working buffers here, nothing later.
  public init?(size: Int, lanes: Int = 16) {
    guard lanes == 16 || lanes == 1, let radices = Self.radices(size: size) else { return nil }
    let half = size / 2
    self.size = size
    self.half = half
    self.lanes = lanes
    kernel = lanes == 16 ? LaneFFTKernel.wide : LaneFFTKernel.narrow
    var table: [Float] = []
    var layout = [half, radices.count, 0]
    var length = half
    for radix in radices {
      layout += [radix, table.count]
      let m = length / radix
      for j in 0..<m {
        for k in 1..<radix {
          let angle = 2 * Double.pi * Double(j * k) / Double(length)
          table += [Float(cos(angle)), Float(-sin(angle))]
        }
      }
      length = m
    }
    layout[2] = table.count
    for k in 0...half {
      let angle = 2 * Double.pi * Double(k) / Double(size)
      table += [Float(cos(angle)), Float(-sin(angle))]
    }
    plan = .allocate(capacity: layout.count)
    plan.initialize(from: layout, count: layout.count)
    twiddles = .allocate(capacity: table.count)
    twiddles.initialize(from: table, count: table.count)
    let floats = 4 * half * lanes
    work = .allocate(byteCount: floats * 4, alignment: 64)
    work.initializeMemory(as: Float.self, repeating: 0, count: floats)
  }

  /// Whether ``init(size:lanes:)`` plans `size`-point frames (without building the plan).
  public static func plans(size: Int) -> Bool { radices(size: size) != nil }

  /// The stages of a `size`-point transform's complex half (radix 4 first, then 2, 3, 5), or nil
  /// when `size` is odd, outside 4…65,536, or its half has another prime factor.
  private static func radices(size: Int) -> [Int]? {
    guard size >= 4, size <= 65_536, size % 2 == 0 else { return nil }
    var radices: [Int] = []
    var rest = size / 2
    for radix in [4, 2, 3, 5] {
      while rest % radix == 0 {
        radices.append(radix)
        rest /= radix
      }
    }
    return rest == 1 ? radices : nil
  }

  deinit {
    plan.deallocate()
    twiddles.deallocate()
    work.deallocate()
  }

  /// Transforms `count` frames (1…``lanes``): frame `l` is `size` samples from `frames[l]`, each
  /// multiplied by `window[n]` first; the magnitude `sqrt(re² + im²)` of its bin `f` goes to
  /// `outputs[l][f]` (``bins`` values). With `power` true, `re² + im²` instead. With
  /// `interleaved`, all go to one buffer, `outputs[0]`, `[bins][lanes]`: bin `f` of frame `l` at
  /// `f · lanes + l` (the lanes past `count` get zeros' transform, 0). Does not allocate or lock;
  /// one thread at a time per plan.
  public func transform(
    _ frames: UnsafePointer<UnsafePointer<Float>>, count: Int, window: UnsafePointer<Float>,
    outputs: UnsafePointer<UnsafeMutablePointer<Float>>, power: Bool = false, interleaved: Bool = false
  ) {
    precondition(count >= 1 && count <= lanes, "1 to \(lanes) frames per transform")
    if count < usedLanes {
      // Lanes that held frames and hold none now start from zeros (lanes do not mix, but what a
      // frame left could be slow denormals); zero lanes stay zero through every stage.
      let real = work.assumingMemoryBound(to: Float.self)
      for row in 0..<(2 * half) {
        for lane in count..<usedLanes { real[row * lanes + lane] = 0 }
      }
    }
    usedLanes = count
    kernel(frames, count, window, outputs, power, interleaved, plan, twiddles, work)
  }
}
