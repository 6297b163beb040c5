import CPUFeatures
import RecurrentKernelsPortable

#if arch(x86_64)
  import RecurrentKernelsAVX2
  import RecurrentKernelsAVX512
#endif

/// Which build of the step's inner loops runs: the same math compiled for three instruction sets.
///
/// ``preferred`` is chosen once per process: the environment variable `STREAMRNN_KERNEL`
/// (`portable`, `avx2`, `avx512`) when it names an available kernel, else the fastest available.
/// All three pass the same golden tests; they differ in float rounding only (≤ 1e-6 apart).
public enum RecurrentKernel: String, Sendable, CaseIterable {
  /// 8-lane vectors without fused multiply-add: any x86-64 CPU, and aarch64.
  case portable
  /// 8-lane AVX2 with FMA (Intel Haswell / AMD Excavator and later).
  case avx2
  /// 16-lane AVX-512 (F, CD, BW, DQ, VL) with FMA (Intel Skylake-SP, AMD Zen 4 and later).
  case avx512

  /// The kernels this CPU can run, slowest first.
  public static let available: [RecurrentKernel] = {
    var kernels: [RecurrentKernel] = [.portable]
    #if arch(x86_64)
      if streamrnn_cpu_supports_avx2() != 0 { kernels.append(.avx2) }
      if streamrnn_cpu_supports_avx512() != 0 { kernels.append(.avx512) }
    #endif
    return kernels
  }()

  /// `STREAMRNN_KERNEL` if set to an available kernel, else the fastest available.
  public static let preferred: RecurrentKernel = {
    if let name = environmentValue("STREAMRNN_KERNEL"), let kernel = RecurrentKernel(rawValue: name),
      available.contains(kernel)
    {
      return kernel
    }
    return available.last!
  }()

  /// Floats per vector in this kernel's build (16 for AVX-512, 8 otherwise): the widest GRU layer
  /// that runs as one fused call.
  public var laneCount: Int { self == .avx512 ? 16 : 8 }

  /// Whether this CPU runs this kernel.
  public var isAvailable: Bool { Self.available.contains(self) }

  /// Each kernel's softmax (the preferred kernel's when this CPU lacks it), taken once: building
  /// ``functions`` allocates, and a head's activation must not.
  var softmax: @Sendable (UnsafeMutablePointer<Float>, Int) -> Void {
    switch self {
    case .portable: Self.portableSoftmax
    case .avx2: Self.avx2Softmax
    case .avx512: Self.avx512Softmax
    }
  }
  private static let portableSoftmax = RecurrentKernel.portable.functions.softmax
  private static let avx2Softmax = (RecurrentKernel.avx2.isAvailable ? .avx2 : preferred).functions.softmax
  private static let avx512Softmax = (RecurrentKernel.avx512.isAvailable ? .avx512 : preferred).functions
    .softmax

  var functions: KernelFunctions {
    switch self {
    case .portable:
      return KernelFunctions(
        lanes: RecurrentKernelsPortable.kernelLaneCount, multiply: RecurrentKernelsPortable.multiplyPanels,
        multiplyReversed: RecurrentKernelsPortable.multiplyPanelsReversed,
        multiplyHalf: RecurrentKernelsPortable.multiplyPanelsHalf,
        multiplyBatch: RecurrentKernelsPortable.multiplyPanelsBatch,
        multiplyHalfBatch: RecurrentKernelsPortable.multiplyPanelsHalfBatch,
        gru: RecurrentKernelsPortable.updateGRU, gruOneVector: RecurrentKernelsPortable.stepGRUOneVector,
        gruOneVectorHalf: RecurrentKernelsPortable.stepGRUOneVectorHalf,
        gruOneVectorBatch: RecurrentKernelsPortable.stepGRUOneVectorBatch,
        lstm: RecurrentKernelsPortable.updateLSTM,
        rnn: RecurrentKernelsPortable.updateRNN, activation: RecurrentKernelsPortable.applyActivation,
        softmax: RecurrentKernelsPortable.softmax,
        fft16: RecurrentKernelsPortable.laneRealFFT16, fft1: RecurrentKernelsPortable.laneRealFFT1,
        mel16: RecurrentKernelsPortable.laneMel16, mel1: RecurrentKernelsPortable.laneMel1)
    case .avx2:
      #if arch(x86_64)
        return KernelFunctions(
          lanes: RecurrentKernelsAVX2.kernelLaneCount, multiply: RecurrentKernelsAVX2.multiplyPanels,
          multiplyReversed: RecurrentKernelsAVX2.multiplyPanelsReversed,
          multiplyHalf: RecurrentKernelsAVX2.multiplyPanelsHalf,
          multiplyBatch: RecurrentKernelsAVX2.multiplyPanelsBatch,
          multiplyHalfBatch: RecurrentKernelsAVX2.multiplyPanelsHalfBatch,
          gru: RecurrentKernelsAVX2.updateGRU, gruOneVector: RecurrentKernelsAVX2.stepGRUOneVector,
          gruOneVectorHalf: RecurrentKernelsAVX2.stepGRUOneVectorHalf,
          gruOneVectorBatch: RecurrentKernelsAVX2.stepGRUOneVectorBatch,
          lstm: RecurrentKernelsAVX2.updateLSTM,
          rnn: RecurrentKernelsAVX2.updateRNN, activation: RecurrentKernelsAVX2.applyActivation,
          softmax: RecurrentKernelsAVX2.softmax,
          fft16: RecurrentKernelsAVX2.laneRealFFT16, fft1: RecurrentKernelsAVX2.laneRealFFT1,
          mel16: RecurrentKernelsAVX2.laneMel16, mel1: RecurrentKernelsAVX2.laneMel1)
      #else
        return RecurrentKernel.portable.functions
      #endif
    case .avx512:
      #if arch(x86_64)
        return KernelFunctions(
          lanes: RecurrentKernelsAVX512.kernelLaneCount, multiply: RecurrentKernelsAVX512.multiplyPanels,
          multiplyReversed: RecurrentKernelsAVX512.multiplyPanelsReversed,
          multiplyHalf: RecurrentKernelsAVX512.multiplyPanelsHalf,
          multiplyBatch: RecurrentKernelsAVX512.multiplyPanelsBatch,
          multiplyHalfBatch: RecurrentKernelsAVX512.multiplyPanelsHalfBatch,
          gru: RecurrentKernelsAVX512.updateGRU, gruOneVector: RecurrentKernelsAVX512.stepGRUOneVector,
          gruOneVectorHalf: RecurrentKernelsAVX512.stepGRUOneVectorHalf,
          gruOneVectorBatch: RecurrentKernelsAVX512.stepGRUOneVectorBatch,
          lstm: RecurrentKernelsAVX512.updateLSTM,
          rnn: RecurrentKernelsAVX512.updateRNN, activation: RecurrentKernelsAVX512.applyActivation,
          softmax: RecurrentKernelsAVX512.softmax,
          fft16: RecurrentKernelsAVX512.laneRealFFT16, fft1: RecurrentKernelsAVX512.laneRealFFT1,
          mel16: RecurrentKernelsAVX512.laneMel16, mel1: RecurrentKernelsAVX512.laneMel1)
      #else
        return RecurrentKernel.portable.functions
      #endif
    }
  }

  /// Applies this kernel's vector sigmoid (or tanh) to `values` in place: for accuracy tests.
  public func applyVectorActivation(_ values: UnsafeMutableBufferPointer<Float>, tangent: Bool) {
    guard let base = values.baseAddress else { return }
    functions.activation(base, values.count, tangent)
  }
}

/// One instruction set's entry points (see RecurrentKernelSource/Kernels.swift).
struct KernelFunctions: Sendable {
  let lanes: Int
  let multiply:
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<Int>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>
    ) ->
      Void
  /// `multiplyPanelsReversed`: `multiply` with the panels in reverse order (the same outputs).
  let multiplyReversed:
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<Int>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>
    ) -> Void
  /// `multiplyPanelsHalf`: float16 weights, float32 biases.
  let multiplyHalf:
    @Sendable (
      UnsafePointer<Float16>, UnsafePointer<Float>, UnsafePointer<Int>, Int, UnsafePointer<Float>,
      UnsafeMutablePointer<Float>
    ) -> Void
  /// `multiplyPanelsBatch`: several vectors, each bit for bit as `multiply` computes it.
  let multiplyBatch:
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<Int>, Int, UnsafePointer<UnsafePointer<Float>>,
      UnsafePointer<UnsafeMutablePointer<Float>>, Int
    ) -> Void
  /// `multiplyPanelsHalfBatch`: float16 weights, several vectors.
  let multiplyHalfBatch:
    @Sendable (
      UnsafePointer<Float16>, UnsafePointer<Float>, UnsafePointer<Int>, Int,
      UnsafePointer<UnsafePointer<Float>>,
      UnsafePointer<UnsafeMutablePointer<Float>>, Int
    ) -> Void
  let gru: @Sendable (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>) -> Void
  /// `stepGRUOneVector`: a whole GRU cell of at most one vector of hidden units in one call
  /// (weights, `x`, hidden, input, `h`, a copy of the new `h` or nil).
  let gruOneVector:
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>,
      UnsafeMutablePointer<Float>?
    ) -> Void
  /// `stepGRUOneVectorHalf`: the same with float16 weights (half block, float32 block, `x`, hidden,
  /// input, `h`, copy).
  let gruOneVectorHalf:
    @Sendable (
      UnsafePointer<Float16>, UnsafePointer<Float>, UnsafePointer<Float>, Int, Int,
      UnsafeMutablePointer<Float>,
      UnsafeMutablePointer<Float>?
    ) -> Void
  /// `stepGRUOneVectorBatch`: float32 weights, several streams (`xs`, `hs`, count, hidden, input),
  /// each bit for bit as `gruOneVector` alone.
  let gruOneVectorBatch:
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<UnsafePointer<Float>>, UnsafePointer<UnsafeMutablePointer<Float>>,
      Int,
      Int, Int
    ) -> Void
  let lstm:
    @Sendable (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) ->
      Void
  let rnn: @Sendable (UnsafePointer<Float>, Int, Bool, UnsafeMutablePointer<Float>) -> Void
  let activation: @Sendable (UnsafeMutablePointer<Float>, Int, Bool) -> Void
  let softmax: @Sendable (UnsafeMutablePointer<Float>, Int) -> Void
  /// `laneRealFFT16` and `laneRealFFT1` (``LaneFFTKernel``).
  let fft16: LaneFFTKernel.Transform
  let fft1: LaneFFTKernel.Transform
  /// `laneMel16` and `laneMel1` (``LaneFFTKernel``).
  let mel16: LaneFFTKernel.Mel
  let mel1: LaneFFTKernel.Mel
}

/// The batched real FFT's entry points (RecurrentKernelSource/LaneFFTKernels.swift) of the
/// ``RecurrentKernel/preferred`` build: `Features.LaneFFT` calls them with its plan.
public enum LaneFFTKernel {
  /// Frames, count, window, outputs, power, interleaved, plan, twiddles, work (see
  /// `laneRealFFT16`).
  public typealias Transform =
    @Sendable (
      UnsafePointer<UnsafePointer<Float>>, Int, UnsafePointer<Float>,
      UnsafePointer<UnsafeMutablePointer<Float>>,
      Bool, Bool, UnsafePointer<Int>, UnsafePointer<Float>, UnsafeMutableRawPointer
    ) -> Void

  /// Spectrum, table, weights, mel count, output (see `laneMel16`).
  public typealias Mel =
    @Sendable (
      UnsafePointer<Float>, UnsafePointer<Int>, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>
    ) ->
    Void

  /// Mel sums of 16 interleaved spectra at once.
  public static let melWide: Mel = RecurrentKernel.preferred.functions.mel16

  /// Mel sums of one spectrum, in scalar arithmetic: the same bits as that frame's lane of
  /// ``melWide``.
  public static let melNarrow: Mel = RecurrentKernel.preferred.functions.mel1

  /// 16 frames at once.
  public static let wide: Transform = RecurrentKernel.preferred.functions.fft16

  /// One frame, in scalar arithmetic: the same bits as that frame in ``wide``.
  public static let narrow: Transform = RecurrentKernel.preferred.functions.fft1
}
