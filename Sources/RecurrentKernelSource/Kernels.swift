// The recurrent step's inner loops. This one file is compiled three times (each kernel target links
// it by symlink): RecurrentKernelsAVX512 (-target-cpu skylake-avx512, 16 lanes, FMA),
// RecurrentKernelsAVX2 (-target-cpu haswell, 8 lanes, FMA) and RecurrentKernelsPortable (no flags,
// 8 lanes, separate multiply and add, runs on any x86-64 and on aarch64). `Recurrent` picks one at
// run time. Entry points are @inline(never) so they keep their instruction set when called from
// baseline code. None of them allocates, locks or throws.

#if KERNEL_AVX512
  /// The vector this build of the kernels works in.
  public typealias KernelVector = SIMD16<Float>
  typealias KernelBitsVector = SIMD16<UInt32>
  typealias KernelHalfVector = SIMD16<Float16>
#else
  /// The vector this build of the kernels works in.
  public typealias KernelVector = SIMD8<Float>
  typealias KernelBitsVector = SIMD8<UInt32>
  typealias KernelHalfVector = SIMD8<Float16>
#endif

/// Floats per vector: weight panels hold this many rows.
public let kernelLaneCount = KernelVector.scalarCount

/// Ints in one panel descriptor (see ``multiplyPanels(_:_:_:_:_:)``).
public let panelDescriptorSize = 6

@_transparent
func load(_ pointer: UnsafePointer<Float>) -> KernelVector {
  UnsafeRawPointer(pointer).loadUnaligned(as: KernelVector.self)
}

@_transparent
func store(_ value: KernelVector, _ pointer: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: KernelVector.self)
}

/// How panel weights are stored: float32 as is, or float16 widened in registers (one `vcvtph2ps`
/// per vector with F16C, as the AVX2 and AVX-512 builds have; a conversion per lane in the
/// portable build).
protocol PanelWeight {
  /// `KernelVector.scalarCount` weights from `pointer`, as floats.
  static func vector(at pointer: UnsafePointer<Self>) -> KernelVector
  /// This weight as a float.
  var widened: Float { get }
}

extension Float: PanelWeight {
  @_transparent
  static func vector(at pointer: UnsafePointer<Float>) -> KernelVector { load(pointer) }
  @_transparent
  var widened: Float { self }
}

extension Float16: PanelWeight {
  @_transparent
  static func vector(at pointer: UnsafePointer<Float16>) -> KernelVector {
    let half = UnsafeRawPointer(pointer).loadUnaligned(as: KernelHalfVector.self)
    // Lane by lane in source; LLVM makes it one vcvtph2ps (the generic SIMD conversion init stays
    // a function call).
    var value = KernelVector()
    for lane in 0..<KernelVector.scalarCount { value[lane] = Float(half[lane]) }
    return value
  }
  @_transparent
  var widened: Float { Float(self) }
}

/// `a · b + c`, fused where the instruction set has FMA.
@_transparent
func fusedMultiplyAdd(_ a: KernelVector, _ b: KernelVector, _ c: KernelVector) -> KernelVector {
  #if KERNEL_FMA
    return c.addingProduct(a, b)
  #else
    return a * b + c
  #endif
}

/// `accumulator += a · b`, fused where the instruction set has FMA (any float vector width: the
/// four-row panel works in 4 lanes). Without FMA, `addProduct` would be a libm call per lane.
@_transparent
func multiplyAdd<Vector: SIMD>(_ accumulator: inout Vector, _ a: Vector, _ b: Vector)
where Vector.Scalar == Float {
  #if KERNEL_FMA
    accumulator.addProduct(a, b)
  #else
    accumulator += a * b
  #endif
}

/// Matrix × vector over packed panels.
///
/// `panels` holds `panelCount` descriptors of ``panelDescriptorSize`` Ints:
/// `[outputRow, inputStart, inputCount, weightOffset, biasOffset, rowVectors]`. A panel is
/// `rowVectors` (1 or 4) vectors of `L` rows (`L` = ``kernelLaneCount``), or (0) four rows in
/// 4-lane vectors (see ``multiplyFourRowPanel(_:_:_:_:_:)``), and computes
/// `output[outputRow + r] = bias[r] + Σ_k weights[weightOffset + k·R + r] · input[inputStart + k]`
/// for `r < R = rowVectors·L`: `inputCount × R` weights, k-major, so each `k` is `rowVectors`
/// vector loads, one broadcast and `rowVectors` multiply-adds. One-vector panels keep eight
/// accumulators over `k`; four-vector panels two per row vector (fewer broadcasts per weight, the
/// better choice for large layers, as ../shared/bench's sgemv_bench measures). `output` must have
/// room for whole panels (four-row panels write 4 floats).
@inline(never)
public func multiplyPanels(
  _ weights: UnsafePointer<Float>, _ panels: UnsafePointer<Int>, _ panelCount: Int,
  _ input: UnsafePointer<Float>,
  _ output: UnsafeMutablePointer<Float>
) {
  multiplyPanels(weights: weights, biases: weights, panels, panelCount, input, output)
}

/// ``multiplyPanels(_:_:_:_:_:)`` over the panels in reverse order: the same outputs, bit for bit
/// (each panel computes its own rows in full), from the other end of the weights. A step that
/// alternates the two directions finds the weights it read last, the ones it now reads first,
/// still in the cache: weights larger than L2 (lstm1x256's 1.2 MB against Zen 4's 1 MiB) then come
/// mostly from L2 instead of all from L3, since a cyclic sweep over more than the cache holds
/// misses on every line.
@inline(never)
public func multiplyPanelsReversed(
  _ weights: UnsafePointer<Float>, _ panels: UnsafePointer<Int>, _ panelCount: Int,
  _ input: UnsafePointer<Float>,
  _ output: UnsafeMutablePointer<Float>
) {
  var index = panelCount
  while index > 0 {
    index &-= 1
    multiplyPanels(weights: weights, biases: weights, panels + 6 &* index, 1, input, output)
  }
}

/// ``multiplyPanels(_:_:_:_:_:)`` with float16 weights: `halfWeights` has the float32 buffer's
/// layout, element for element; the biases are still read, exact, from `biases` (the float32
/// buffer). Half the bytes per step; the arithmetic stays float32.
@inline(never)
public func multiplyPanelsHalf(
  _ halfWeights: UnsafePointer<Float16>, _ biases: UnsafePointer<Float>, _ panels: UnsafePointer<Int>,
  _ panelCount: Int, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>
) {
  multiplyPanels(weights: halfWeights, biases: biases, panels, panelCount, input, output)
}

@_transparent
func multiplyPanels<Weight: PanelWeight>(
  weights: UnsafePointer<Weight>, biases: UnsafePointer<Float>, _ panels: UnsafePointer<Int>,
  _ panelCount: Int,
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>
) {
  var descriptor = panels
  for _ in 0..<panelCount {
    if descriptor[5] == 4 {
      multiplyFourVectorPanel(weights, biases, descriptor, input, output)
    } else if descriptor[5] == 0 {
      multiplyFourRowPanel(weights, biases, descriptor, input, output)
    } else {
      multiplyOneVectorPanel(weights, biases, descriptor, input, output)
    }
    descriptor += 6
  }
}

@_transparent
func multiplyOneVectorPanel<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>
) {
  store(oneVectorPanelSum(weights, biases, descriptor, input), output + descriptor[0])
}

/// The `L` outputs of a one-vector panel (see ``multiplyPanels(_:_:_:_:_:)``), in a register.
@_transparent
func oneVectorPanelSum<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ input: UnsafePointer<Float>
) -> KernelVector {
  let lanes = KernelVector.scalarCount
  let u = input + descriptor[1]
  let count = descriptor[2]
  var w = weights + descriptor[3]
  var a0 = load(biases + descriptor[4])
  var a1 = KernelVector()
  var a2 = KernelVector()
  var a3 = KernelVector()
  var a4 = KernelVector()
  var a5 = KernelVector()
  var a6 = KernelVector()
  var a7 = KernelVector()
  var k = 0
  while k &+ 8 <= count {
    multiplyAdd(&a0, Weight.vector(at: w), KernelVector(repeating: u[k]))
    multiplyAdd(&a1, Weight.vector(at: w + lanes), KernelVector(repeating: u[k &+ 1]))
    multiplyAdd(&a2, Weight.vector(at: w + 2 &* lanes), KernelVector(repeating: u[k &+ 2]))
    multiplyAdd(&a3, Weight.vector(at: w + 3 &* lanes), KernelVector(repeating: u[k &+ 3]))
    multiplyAdd(&a4, Weight.vector(at: w + 4 &* lanes), KernelVector(repeating: u[k &+ 4]))
    multiplyAdd(&a5, Weight.vector(at: w + 5 &* lanes), KernelVector(repeating: u[k &+ 5]))
    multiplyAdd(&a6, Weight.vector(at: w + 6 &* lanes), KernelVector(repeating: u[k &+ 6]))
    multiplyAdd(&a7, Weight.vector(at: w + 7 &* lanes), KernelVector(repeating: u[k &+ 7]))
    w += 8 &* lanes
    k &+= 8
  }
  while k < count {
    multiplyAdd(&a0, Weight.vector(at: w), KernelVector(repeating: u[k]))
    w += lanes
    k &+= 1
  }
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
}

/// A panel of four rows (`rowVectors` 0), k-major like the others but in 4-lane vectors: a small
/// head (say 4 classes over 64 inputs) streams 1 KiB of weights, not the 4 KiB of a one-vector
/// panel whose rows are mostly zero padding. Writes 4 floats. Measured on gru2x64+head and
/// lstm2x64+head: 0 to 4 % faster per step (two sittings of 8–10 alternating runs).
@_transparent
func multiplyFourRowPanel<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>
) {
  let u = input + descriptor[1]
  let count = descriptor[2]
  let w = weights + descriptor[3]
  let bias = biases + descriptor[4]
  var a0 = SIMD4<Float>(bias[0], bias[1], bias[2], bias[3])
  var a1 = SIMD4<Float>()
  var a2 = SIMD4<Float>()
  var a3 = SIMD4<Float>()
  @_transparent func row4(_ k: Int) -> SIMD4<Float> {
    let p = w + 4 &* k
    return SIMD4<Float>(p[0].widened, p[1].widened, p[2].widened, p[3].widened)
  }
  var k = 0
  while k &+ 4 <= count {
    multiplyAdd(&a0, row4(k), SIMD4<Float>(repeating: u[k]))
    multiplyAdd(&a1, row4(k &+ 1), SIMD4<Float>(repeating: u[k &+ 1]))
    multiplyAdd(&a2, row4(k &+ 2), SIMD4<Float>(repeating: u[k &+ 2]))
    multiplyAdd(&a3, row4(k &+ 3), SIMD4<Float>(repeating: u[k &+ 3]))
    k &+= 4
  }
  while k < count {
    multiplyAdd(&a0, row4(k), SIMD4<Float>(repeating: u[k]))
    k &+= 1
  }
  let sum = (a0 + a1) + (a2 + a3)
  let out = output + descriptor[0]
  out[0] = sum[0]
  out[1] = sum[1]
  out[2] = sum[2]
  out[3] = sum[3]
}

/// One `k` of a four-vector panel: `a_r += w[r·L ..< (r+1)·L] · x` for the four row vectors.
@_transparent
func multiplyAddFour<Weight: PanelWeight>(
  _ a0: inout KernelVector, _ a1: inout KernelVector, _ a2: inout KernelVector, _ a3: inout KernelVector,
  _ w: UnsafePointer<Weight>, _ x: Float
) {
  let lanes = KernelVector.scalarCount
  let broadcast = KernelVector(repeating: x)
  multiplyAdd(&a0, Weight.vector(at: w), broadcast)
  multiplyAdd(&a1, Weight.vector(at: w + lanes), broadcast)
  multiplyAdd(&a2, Weight.vector(at: w + 2 &* lanes), broadcast)
  multiplyAdd(&a3, Weight.vector(at: w + 3 &* lanes), broadcast)
}

@_transparent
func multiplyFourVectorPanel<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>
) {
  let lanes = KernelVector.scalarCount
  let step = 4 &* lanes
  let u = input + descriptor[1]
  let count = descriptor[2]
  var w = weights + descriptor[3]
  let bias = biases + descriptor[4]
  // aRS: row vector R, k-split S. AVX-512 has 32 vector registers: four k-splits (16 accumulators)
  // measured 4–6 % faster on lstm1x256. The 16-register builds keep two (four spilled there).
  var a00 = load(bias)
  var a10 = load(bias + lanes)
  var a20 = load(bias + 2 &* lanes)
  var a30 = load(bias + 3 &* lanes)
  var a01 = KernelVector()
  var a11 = KernelVector()
  var a21 = KernelVector()
  var a31 = KernelVector()
  var k = 0
  #if KERNEL_AVX512
    var a02 = KernelVector()
    var a12 = KernelVector()
    var a22 = KernelVector()
    var a32 = KernelVector()
    var a03 = KernelVector()
    var a13 = KernelVector()
    var a23 = KernelVector()
    var a33 = KernelVector()
    while k &+ 4 <= count {
      multiplyAddFour(&a00, &a10, &a20, &a30, w, u[k])
      multiplyAddFour(&a01, &a11, &a21, &a31, w + step, u[k &+ 1])
      multiplyAddFour(&a02, &a12, &a22, &a32, w + 2 &* step, u[k &+ 2])
      multiplyAddFour(&a03, &a13, &a23, &a33, w + 3 &* step, u[k &+ 3])
      w += 4 &* step
      k &+= 4
    }
    a00 += a02
    a10 += a12
    a20 += a22
    a30 += a32
    a01 += a03
    a11 += a13
    a21 += a23
    a31 += a33
  #endif
  while k &+ 2 <= count {
    multiplyAddFour(&a00, &a10, &a20, &a30, w, u[k])
    multiplyAddFour(&a01, &a11, &a21, &a31, w + step, u[k &+ 1])
    w += 2 &* step
    k &+= 2
  }
  if k < count {
    multiplyAddFour(&a00, &a10, &a20, &a30, w, u[k])
  }
  let out = output + descriptor[0]
  store(a00 + a01, out)
  store(a10 + a11, out + lanes)
  store(a20 + a21, out + 2 &* lanes)
  store(a30 + a31, out + 3 &* lanes)
}

// MARK: Batched products
//
// Several vectors through the same panels: each panel's weights are read from memory (L2) once per
// batch instead of once per vector, and re-read from L1 for the rest of the batch. Every output is
// the same sum in the same order as the one-vector kernels above compute it (the same k-splits
// into the same accumulators, the bias in the first, the same final additions), so a batched
// product equals one-vector products bit for bit on every build; only the traversal differs: a
// four-vector panel is walked one row vector at a time for four vectors at once (16 accumulators
// on AVX-512, 8 on the 16-register builds), a one-vector panel for two vectors at once on AVX-512
// (16 accumulators; one at a time elsewhere), a four-row panel for two vectors at once.

/// `outputs[b] = W inputs[b] + bias` for `b < count`, over the panels of
/// ``multiplyPanels(_:_:_:_:_:)``; bit for bit what that function computes for each vector alone.
/// Each output must have room for whole panels. Does not allocate.
@inline(never)
public func multiplyPanelsBatch(
  _ weights: UnsafePointer<Float>, _ panels: UnsafePointer<Int>, _ panelCount: Int,
  _ inputs: UnsafePointer<UnsafePointer<Float>>, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>,
  _ count: Int
) {
  multiplyPanelsBatch(weights: weights, biases: weights, panels, panelCount, inputs, outputs, count)
}

/// ``multiplyPanelsBatch(_:_:_:_:_:_:)`` with float16 weights (as ``multiplyPanelsHalf(_:_:_:_:_:_:)``).
@inline(never)
public func multiplyPanelsHalfBatch(
  _ halfWeights: UnsafePointer<Float16>, _ biases: UnsafePointer<Float>, _ panels: UnsafePointer<Int>,
  _ panelCount: Int, _ inputs: UnsafePointer<UnsafePointer<Float>>,
  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>, _ count: Int
) {
  multiplyPanelsBatch(weights: halfWeights, biases: biases, panels, panelCount, inputs, outputs, count)
}

@_transparent
func multiplyPanelsBatch<Weight: PanelWeight>(
  weights: UnsafePointer<Weight>, biases: UnsafePointer<Float>, _ panels: UnsafePointer<Int>,
  _ panelCount: Int, _ inputs: UnsafePointer<UnsafePointer<Float>>,
  _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>, _ count: Int
) {
  var descriptor = panels
  for _ in 0..<panelCount {
    var b = 0
    if descriptor[5] == 4 {
      while b &+ 4 <= count {
        multiplyFourVectorPanelFour(weights, biases, descriptor, inputs + b, outputs + b)
        b &+= 4
      }
      while b < count {
        multiplyFourVectorPanel(weights, biases, descriptor, inputs[b], outputs[b])
        b &+= 1
      }
    } else if descriptor[5] == 0 {
      while b &+ 2 <= count {
        multiplyFourRowPanelTwo(weights, biases, descriptor, inputs + b, outputs + b)
        b &+= 2
      }
      while b < count {
        multiplyFourRowPanel(weights, biases, descriptor, inputs[b], outputs[b])
        b &+= 1
      }
    } else {
      #if KERNEL_AVX512
        while b &+ 2 <= count {
          multiplyOneVectorPanelTwo(weights, biases, descriptor, inputs + b, outputs + b)
          b &+= 2
        }
      #endif
      while b < count {
        multiplyOneVectorPanel(weights, biases, descriptor, inputs[b], outputs[b])
        b &+= 1
      }
    }
    descriptor += 6
  }
}

/// Four vectors through a four-vector panel, one row vector at a time: per row vector and vector,
/// the accumulators of ``multiplyFourVectorPanel(_:_:_:_:_:)`` (four k-splits on AVX-512, two
/// elsewhere) fed in the same order.
@_transparent
func multiplyFourVectorPanelFour<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ inputs: UnsafePointer<UnsafePointer<Float>>, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>
) {
  let lanes = KernelVector.scalarCount
  let step = 4 &* lanes
  let count = descriptor[2]
  let u0 = inputs[0] + descriptor[1]
  let u1 = inputs[1] + descriptor[1]
  let u2 = inputs[2] + descriptor[1]
  let u3 = inputs[3] + descriptor[1]
  for row in 0..<4 {
    var w = weights + (descriptor[3] &+ row &* lanes)
    let bias = load(biases + (descriptor[4] &+ row &* lanes))
    // aBS: vector B, k-split S.
    var a00 = bias
    var a10 = bias
    var a20 = bias
    var a30 = bias
    var a01 = KernelVector()
    var a11 = KernelVector()
    var a21 = KernelVector()
    var a31 = KernelVector()
    var k = 0
    #if KERNEL_AVX512
      var a02 = KernelVector()
      var a12 = KernelVector()
      var a22 = KernelVector()
      var a32 = KernelVector()
      var a03 = KernelVector()
      var a13 = KernelVector()
      var a23 = KernelVector()
      var a33 = KernelVector()
      while k &+ 4 <= count {
        let w0 = Weight.vector(at: w)
        multiplyAdd(&a00, w0, KernelVector(repeating: u0[k]))
        multiplyAdd(&a10, w0, KernelVector(repeating: u1[k]))
        multiplyAdd(&a20, w0, KernelVector(repeating: u2[k]))
        multiplyAdd(&a30, w0, KernelVector(repeating: u3[k]))
        let w1 = Weight.vector(at: w + step)
        multiplyAdd(&a01, w1, KernelVector(repeating: u0[k &+ 1]))
        multiplyAdd(&a11, w1, KernelVector(repeating: u1[k &+ 1]))
        multiplyAdd(&a21, w1, KernelVector(repeating: u2[k &+ 1]))
        multiplyAdd(&a31, w1, KernelVector(repeating: u3[k &+ 1]))
        let w2 = Weight.vector(at: w + 2 &* step)
        multiplyAdd(&a02, w2, KernelVector(repeating: u0[k &+ 2]))
        multiplyAdd(&a12, w2, KernelVector(repeating: u1[k &+ 2]))
        multiplyAdd(&a22, w2, KernelVector(repeating: u2[k &+ 2]))
        multiplyAdd(&a32, w2, KernelVector(repeating: u3[k &+ 2]))
        let w3 = Weight.vector(at: w + 3 &* step)
        multiplyAdd(&a03, w3, KernelVector(repeating: u0[k &+ 3]))
        multiplyAdd(&a13, w3, KernelVector(repeating: u1[k &+ 3]))
        multiplyAdd(&a23, w3, KernelVector(repeating: u2[k &+ 3]))
        multiplyAdd(&a33, w3, KernelVector(repeating: u3[k &+ 3]))
        w += 4 &* step
        k &+= 4
      }
      a00 += a02
      a10 += a12
      a20 += a22
      a30 += a32
      a01 += a03
      a11 += a13
      a21 += a23
      a31 += a33
    #endif
    while k &+ 2 <= count {
      let w0 = Weight.vector(at: w)
      multiplyAdd(&a00, w0, KernelVector(repeating: u0[k]))
      multiplyAdd(&a10, w0, KernelVector(repeating: u1[k]))
      multiplyAdd(&a20, w0, KernelVector(repeating: u2[k]))
      multiplyAdd(&a30, w0, KernelVector(repeating: u3[k]))
      let w1 = Weight.vector(at: w + step)
      multiplyAdd(&a01, w1, KernelVector(repeating: u0[k &+ 1]))
      multiplyAdd(&a11, w1, KernelVector(repeating: u1[k &+ 1]))
      multiplyAdd(&a21, w1, KernelVector(repeating: u2[k &+ 1]))
      multiplyAdd(&a31, w1, KernelVector(repeating: u3[k &+ 1]))
      w += 2 &* step
      k &+= 2
    }
    if k < count {
      let w0 = Weight.vector(at: w)
      multiplyAdd(&a00, w0, KernelVector(repeating: u0[k]))
      multiplyAdd(&a10, w0, KernelVector(repeating: u1[k]))
      multiplyAdd(&a20, w0, KernelVector(repeating: u2[k]))
      multiplyAdd(&a30, w0, KernelVector(repeating: u3[k]))
    }
    let offset = descriptor[0] &+ row &* lanes
    store(a00 + a01, outputs[0] + offset)
    store(a10 + a11, outputs[1] + offset)
    store(a20 + a21, outputs[2] + offset)
    store(a30 + a31, outputs[3] + offset)
  }
}

/// Two vectors through a one-vector panel: the eight k-split accumulators of
/// ``multiplyOneVectorPanel(_:_:_:_:_:)`` for each (16 registers: AVX-512 only).
@_transparent
func multiplyOneVectorPanelTwo<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ inputs: UnsafePointer<UnsafePointer<Float>>, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>
) {
  let lanes = KernelVector.scalarCount
  let u = inputs[0] + descriptor[1]
  let v = inputs[1] + descriptor[1]
  let count = descriptor[2]
  var w = weights + descriptor[3]
  let bias = load(biases + descriptor[4])
  var a0 = bias
  var a1 = KernelVector()
  var a2 = KernelVector()
  var a3 = KernelVector()
  var a4 = KernelVector()
  var a5 = KernelVector()
  var a6 = KernelVector()
  var a7 = KernelVector()
  var b0 = bias
  var b1 = KernelVector()
  var b2 = KernelVector()
  var b3 = KernelVector()
  var b4 = KernelVector()
  var b5 = KernelVector()
  var b6 = KernelVector()
  var b7 = KernelVector()
  // (No local function over `w`: a captured variable is a heap box in unoptimised builds.)
  var k = 0
  while k &+ 8 <= count {
    var weight = Weight.vector(at: w)
    multiplyAdd(&a0, weight, KernelVector(repeating: u[k]))
    multiplyAdd(&b0, weight, KernelVector(repeating: v[k]))
    weight = Weight.vector(at: w + lanes)
    multiplyAdd(&a1, weight, KernelVector(repeating: u[k &+ 1]))
    multiplyAdd(&b1, weight, KernelVector(repeating: v[k &+ 1]))
    weight = Weight.vector(at: w + 2 &* lanes)
    multiplyAdd(&a2, weight, KernelVector(repeating: u[k &+ 2]))
    multiplyAdd(&b2, weight, KernelVector(repeating: v[k &+ 2]))
    weight = Weight.vector(at: w + 3 &* lanes)
    multiplyAdd(&a3, weight, KernelVector(repeating: u[k &+ 3]))
    multiplyAdd(&b3, weight, KernelVector(repeating: v[k &+ 3]))
    weight = Weight.vector(at: w + 4 &* lanes)
    multiplyAdd(&a4, weight, KernelVector(repeating: u[k &+ 4]))
    multiplyAdd(&b4, weight, KernelVector(repeating: v[k &+ 4]))
    weight = Weight.vector(at: w + 5 &* lanes)
    multiplyAdd(&a5, weight, KernelVector(repeating: u[k &+ 5]))
    multiplyAdd(&b5, weight, KernelVector(repeating: v[k &+ 5]))
    weight = Weight.vector(at: w + 6 &* lanes)
    multiplyAdd(&a6, weight, KernelVector(repeating: u[k &+ 6]))
    multiplyAdd(&b6, weight, KernelVector(repeating: v[k &+ 6]))
    weight = Weight.vector(at: w + 7 &* lanes)
    multiplyAdd(&a7, weight, KernelVector(repeating: u[k &+ 7]))
    multiplyAdd(&b7, weight, KernelVector(repeating: v[k &+ 7]))
    w += 8 &* lanes
    k &+= 8
  }
  while k < count {
    let weight = Weight.vector(at: w)
    multiplyAdd(&a0, weight, KernelVector(repeating: u[k]))
    multiplyAdd(&b0, weight, KernelVector(repeating: v[k]))
    w += lanes
    k &+= 1
  }
  store(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)), outputs[0] + descriptor[0])
  store(((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7)), outputs[1] + descriptor[0])
}

/// Two vectors through a four-row panel (the accumulators of
/// ``multiplyFourRowPanel(_:_:_:_:_:)`` for each).
@_transparent
func multiplyFourRowPanelTwo<Weight: PanelWeight>(
  _ weights: UnsafePointer<Weight>, _ biases: UnsafePointer<Float>, _ descriptor: UnsafePointer<Int>,
  _ inputs: UnsafePointer<UnsafePointer<Float>>, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>>
) {
  let u = inputs[0] + descriptor[1]
  let v = inputs[1] + descriptor[1]
  let count = descriptor[2]
  let w = weights + descriptor[3]
  let bias = biases + descriptor[4]
  let start = SIMD4<Float>(bias[0], bias[1], bias[2], bias[3])
  var a0 = start
  var a1 = SIMD4<Float>()
  var a2 = SIMD4<Float>()
  var a3 = SIMD4<Float>()
  var b0 = start
  var b1 = SIMD4<Float>()
  var b2 = SIMD4<Float>()
  var b3 = SIMD4<Float>()
  @_transparent func row4(_ k: Int) -> SIMD4<Float> {
    let p = w + 4 &* k
    return SIMD4<Float>(p[0].widened, p[1].widened, p[2].widened, p[3].widened)
  }
  var k = 0
  while k &+ 4 <= count {
    let r0 = row4(k)
    multiplyAdd(&a0, r0, SIMD4<Float>(repeating: u[k]))
    multiplyAdd(&b0, r0, SIMD4<Float>(repeating: v[k]))
    let r1 = row4(k &+ 1)
    multiplyAdd(&a1, r1, SIMD4<Float>(repeating: u[k &+ 1]))
    multiplyAdd(&b1, r1, SIMD4<Float>(repeating: v[k &+ 1]))
    let r2 = row4(k &+ 2)
    multiplyAdd(&a2, r2, SIMD4<Float>(repeating: u[k &+ 2]))
    multiplyAdd(&b2, r2, SIMD4<Float>(repeating: v[k &+ 2]))
    let r3 = row4(k &+ 3)
    multiplyAdd(&a3, r3, SIMD4<Float>(repeating: u[k &+ 3]))
    multiplyAdd(&b3, r3, SIMD4<Float>(repeating: v[k &+ 3]))
    k &+= 4
  }
  while k < count {
    let r0 = row4(k)
    multiplyAdd(&a0, r0, SIMD4<Float>(repeating: u[k]))
    multiplyAdd(&b0, r0, SIMD4<Float>(repeating: v[k]))
    k &+= 1
  }
  let first = (a0 + a1) + (a2 + a3)
  let second = (b0 + b1) + (b2 + b3)
  let x = outputs[0] + descriptor[0]
  let y = outputs[1] + descriptor[0]
  x[0] = first[0]
  x[1] = first[1]
  x[2] = first[2]
  x[3] = first[3]
  y[0] = second[0]
  y[1] = second[1]
  y[2] = second[2]
  y[3] = second[3]
}

// MARK: Activations
//
// e^(s·x) = 2^n · e^r with n = round(s·x / ln 2) and r = s·x − n·ln 2, |r| ≤ ln2/2 (for s = ±1, ±2;
// the two-part ln 2 keeps r exact to float precision). e^r is a degree-6 polynomial fitted to the
// relative error on [−ln2/2, ln2/2] (1.9e-9 with exact coefficients, 1.1e-7 evaluated in float32;
// the degree-7 Taylor series it replaced cost one more multiply-add for no measurable gain;
// Scripts/fit_exp_polynomial.py makes the coefficients).
// The scale s is folded into the constants: r = s·t with t = x − n·ln2/s, so the polynomial runs
// on t with coefficients c_k·s^k (exact: s is a power of two). Sigmoid needs e^(−x), tanh e^(−2x):
// neither pays for a negation or a doubling.
// Measured max absolute error against float64 over [−20, 20] in steps of 1e-4 plus the extremes
// (KernelTests.activationAccuracy, which fails above 3e-7), on all three builds:
// sigmoid 6.0e-8, tanh 1.8e-7 (was 8.9e-8 for both with the Taylor exp and (1 − e)/(1 + e)).
// The golden bar for whole steps is 1e-5 (measured: ≤ 1.2e-7).

/// `e^(scale·x)` for `scale` = ±1 or ±2 (a compile-time constant at every call site), with
/// `scale·x` clamped to `[−86.5, 88.3]` (so that n ∈ [−125, 127] and the result's exponent field
/// stays in 1…254).
@_transparent
func exponential(_ x: KernelVector, scale: Float) -> KernelVector {
  let low = min(-86.5 / scale, 88.3 / scale)
  let high = max(-86.5 / scale, 88.3 / scale)
  let clamped = x.replacing(with: high, where: x .> high).replacing(with: low, where: x .< low)
  // Adding 1.5·2^23 rounds to the nearest integer and leaves 2^22 + n in the low mantissa bits:
  // no float→int conversion (which Swift's generic SIMD init does lane by lane).
  let magic: Float = 12_582_912
  let shifted = fusedMultiplyAdd(
    clamped, KernelVector(repeating: 1.442_695_04 * scale), KernelVector(repeating: magic))
  let n = shifted - magic
  let t = fusedMultiplyAdd(
    n, KernelVector(repeating: -1.428_606_8e-6 / scale),
    fusedMultiplyAdd(n, KernelVector(repeating: -0.693_145_75 / scale), clamped))
  // Estrin's scheme (pairs, then pairs of pairs): three multiply-adds deep instead of Horner's six.
  // Measured as fast as Horner (within noise); kept for the shorter dependency chain.
  let s2 = scale * scale
  let s3 = s2 * scale
  let t2 = t * t
  let p01 = fusedMultiplyAdd(t, KernelVector(repeating: scale), KernelVector(repeating: 1))
  let p23 = fusedMultiplyAdd(
    t, KernelVector(repeating: 0.166_664_2 * s3), KernelVector(repeating: 0.499_999_91 * s2))
  let p45 = fusedMultiplyAdd(
    t, KernelVector(repeating: 0.008_374_812 * s3 * s2), KernelVector(repeating: 0.041_668_236 * s2 * s2))
  let p456 = fusedMultiplyAdd(t2, KernelVector(repeating: 0.001_383_627_5 * s3 * s3), p45)
  let p = fusedMultiplyAdd(t2 * t2, p456, fusedMultiplyAdd(t2, p23, p01))
  // ·2^n: shifting the bits left by 23 drops the 2^22 marker and everything above it and leaves
  // n·2^23 (two's complement); adding that to p's bits adds n to its exponent (p ∈ [0.70, 1.42]
  // has exponent −1 or 0, so the sum stays a normal float). An integer add instead of a float
  // multiply.
  let exponent = unsafeBitCast(shifted, to: KernelBitsVector.self) &<< 23
  return unsafeBitCast(unsafeBitCast(p, to: KernelBitsVector.self) &+ exponent, to: KernelVector.self)
}

/// `1 / (1 + e^−x)`.
@_transparent
func sigmoid(_ x: KernelVector) -> KernelVector {
  1 / (1 + exponential(x, scale: -1))
}

/// `tanh(x) = 2 / (1 + e^(−2x)) − 1` (absolute error as for the sigmoid; near 0 the relative
/// error grows, which the absolute golden bar does not see).
@_transparent
func hyperbolicTangent(_ x: KernelVector) -> KernelVector {
  2 / (1 + exponential(x, scale: -2)) - 1
}

/// Loads `count` (< lanes) floats, zero-filling the rest.
@_transparent
func loadPartial(_ pointer: UnsafePointer<Float>, _ count: Int) -> KernelVector {
  var value = KernelVector()
  for lane in 0..<count { value[lane] = pointer[lane] }
  return value
}

@_transparent
func storePartial(_ value: KernelVector, _ pointer: UnsafeMutablePointer<Float>, _ count: Int) {
  for lane in 0..<count { pointer[lane] = value[lane] }
}

// MARK: Cell updates

/// GRU gates (PyTorch r|z|n): `pre` holds `[r, z, n_x, n_h]`, each `paddedHidden` floats, where r
/// and z are already `W_i x + b_i + W_h h + b_h`, `n_x = W_in x + b_in` and `n_h = W_hn h + b_hn`.
/// Then `n = tanh(n_x + r ⊙ n_h)` and `h ← (h − n) ⊙ z + n` (ATen's form of `(1 − z) n + z h`).
@inline(never)
public func updateGRU(
  _ pre: UnsafePointer<Float>, paddedHidden: Int, hidden: Int, h: UnsafeMutablePointer<Float>
) {
  let lanes = KernelVector.scalarCount
  var j = 0
  while j < hidden {
    let valid = min(lanes, hidden &- j)
    let r = sigmoid(load(pre + j))
    let z = sigmoid(load(pre + (paddedHidden &+ j)))
    let n = hyperbolicTangent(load(pre + (2 &* paddedHidden &+ j)) + r * load(pre + (3 &* paddedHidden &+ j)))
    let previous = valid == lanes ? load(h + j) : loadPartial(h + j, valid)
    let next = (previous - n) * z + n
    if valid == lanes { store(next, h + j) } else { storePartial(next, h + j, valid) }
    j &+= lanes
  }
}

/// `a_r += w[0..<L]·x`, `a_z += w[L..<2L]·x`, `a_n += w[2L..<3L]·x`: one `k` of a small GRU cell's
/// three gate rows over its input.
@_transparent
func multiplyAddThree<Weight: PanelWeight>(
  _ r: inout KernelVector, _ z: inout KernelVector, _ n: inout KernelVector, _ w: UnsafePointer<Weight>,
  _ x: Float
) {
  let lanes = KernelVector.scalarCount
  let broadcast = KernelVector(repeating: x)
  multiplyAdd(&r, Weight.vector(at: w), broadcast)
  multiplyAdd(&z, Weight.vector(at: w + lanes), broadcast)
  multiplyAdd(&n, Weight.vector(at: w + 2 &* lanes), broadcast)
}

/// `a_r += w[0..<L]·x`, `a_n += w[L..<2L]·x`: one `k` of a small GRU cell's r and n rows over `h`.
@_transparent
func multiplyAddTwo<Weight: PanelWeight>(
  _ r: inout KernelVector, _ n: inout KernelVector, _ w: UnsafePointer<Weight>, _ x: Float
) {
  let broadcast = KernelVector(repeating: x)
  multiplyAdd(&r, Weight.vector(at: w), broadcast)
  multiplyAdd(&n, Weight.vector(at: w + KernelVector.scalarCount), broadcast)
}

/// A whole GRU cell whose hidden size fits one vector (`hidden` ≤ `L`), in one call: gate sums,
/// gate math and the new `h` (`hidden` floats, read and then overwritten), with no `pre` buffer.
/// `x` is the cell's input (`input` floats), anywhere; `copy`, when given, gets the new `h` too
/// (the step's output, without a `memmove` of `h` afterwards).
///
/// `weights` is the cell's own block (``oneVectorGRUBlockSize(hidden:input:)`` floats, rows from
/// `hidden` up zero): over `x`, per k, three vectors `[W_ir, W_iz, W_in]`; over `h`, per k, two
/// vectors `[W_hr, W_hn]`; then per k one vector `W_hz`; then four bias vectors
/// `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`.
///
/// Ordered for the chain from one step's `h` to the next, which is what bounds a model this small
/// (on Zen 4, 71 ns per step against 51 ns when steps do not depend on each other): the products
/// over `x` come first, as they need nothing of the previous step; over `h`, the rows of `r` and
/// `n` come before those of `z`, since `n = tanh(n_x + r ⊙ n_h)` waits for `r` and only the final
/// blend needs `z`. One broadcast feeds two or three multiply-adds (the panels' one-vector form
/// needs one per multiply-add: on Zen 4, whose L1 serves one 64-byte load per cycle, those were half
/// the loads). Does not allocate.
@inline(never)
public func stepGRUOneVector(
  _ weights: UnsafePointer<Float>, _ x: UnsafePointer<Float>, hidden: Int, input: Int,
  h: UnsafeMutablePointer<Float>, copy: UnsafeMutablePointer<Float>?
) {
  stepGRUOneVector(weights: weights, biases: weights, x, hidden: hidden, input: input, h: h, copy: copy)
}

/// ``stepGRUOneVector(_:_:hidden:input:h:copy:)`` with float16 weights: `halfWeights` is the block
/// rounded element for element; the biases are read, exact, from the float32 block `block`. The
/// same arithmetic on the widened weights.
@inline(never)
public func stepGRUOneVectorHalf(
  _ halfWeights: UnsafePointer<Float16>, _ block: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
  hidden: Int,
  input: Int, h: UnsafeMutablePointer<Float>, copy: UnsafeMutablePointer<Float>?
) {
  stepGRUOneVector(weights: halfWeights, biases: block, x, hidden: hidden, input: input, h: h, copy: copy)
}

@_transparent
func stepGRUOneVector<Weight: PanelWeight>(
  weights: UnsafePointer<Weight>, biases: UnsafePointer<Float>, _ x: UnsafePointer<Float>, hidden: Int,
  input: Int, h: UnsafeMutablePointer<Float>, copy: UnsafeMutablePointer<Float>?
) {
  let lanes = KernelVector.scalarCount
  let bias = biases + (oneVectorGRUBlockSize(hidden: hidden, input: input) &- 4 &* lanes)
  // Over x: r0 z0 m0 (with the biases of r, z, n_x) and r1 z1 m1 take alternate k.
  var r0 = load(bias)
  var z0 = load(bias + lanes)
  var m0 = load(bias + 2 &* lanes)
  var r1 = KernelVector()
  var z1 = KernelVector()
  var m1 = KernelVector()
  var w = weights
  let three = 3 &* lanes
  var k = 0
  while k &+ 2 <= input {
    multiplyAddThree(&r0, &z0, &m0, w, x[k])
    multiplyAddThree(&r1, &z1, &m1, w + three, x[k &+ 1])
    w += 2 &* three
    k &+= 2
  }
  if k < input {
    multiplyAddThree(&r0, &z0, &m0, w, x[k])
    w += three
  }
  // Over h, r and n_h: four k-splits (r2…r5, n2…n5; n2 with the bias of n_h).
  let u = UnsafePointer(h)
  let two = 2 &* lanes
  var r2 = KernelVector()
  var n2 = load(bias + 3 &* lanes)
  var r3 = KernelVector()
  var n3 = KernelVector()
  var r4 = KernelVector()
  var n4 = KernelVector()
  var r5 = KernelVector()
  var n5 = KernelVector()
  k = 0
  while k &+ 4 <= hidden {
    multiplyAddTwo(&r2, &n2, w, u[k])
    multiplyAddTwo(&r3, &n3, w + two, u[k &+ 1])
    multiplyAddTwo(&r4, &n4, w + 2 &* two, u[k &+ 2])
    multiplyAddTwo(&r5, &n5, w + 3 &* two, u[k &+ 3])
    w += 4 &* two
    k &+= 4
  }
  while k < hidden {
    multiplyAddTwo(&r2, &n2, w, u[k])
    w += two
    k &+= 1
  }
  let r = sigmoid(((r0 + r1) + (r2 + r3)) + (r4 + r5))
  let n = hyperbolicTangent((m0 + m1) + r * ((n2 + n3) + (n4 + n5)))
  // Over h, z: off the chain until the final blend.
  var z2 = KernelVector()
  var z3 = KernelVector()
  var z4 = KernelVector()
  var z5 = KernelVector()
  k = 0
  while k &+ 4 <= hidden {
    multiplyAdd(&z2, Weight.vector(at: w), KernelVector(repeating: u[k]))
    multiplyAdd(&z3, Weight.vector(at: w + lanes), KernelVector(repeating: u[k &+ 1]))
    multiplyAdd(&z4, Weight.vector(at: w + 2 &* lanes), KernelVector(repeating: u[k &+ 2]))
    multiplyAdd(&z5, Weight.vector(at: w + 3 &* lanes), KernelVector(repeating: u[k &+ 3]))
    w += 4 &* lanes
    k &+= 4
  }
  while k < hidden {
    multiplyAdd(&z2, Weight.vector(at: w), KernelVector(repeating: u[k]))
    w += lanes
    k &+= 1
  }
  let z = sigmoid(((z0 + z1) + (z2 + z3)) + (z4 + z5))
  if hidden == lanes {
    let next = (load(h) - n) * z + n
    store(next, h)
    if let copy { store(next, copy) }
  } else {
    let next = (loadPartial(h, hidden) - n) * z + n
    storePartial(next, h, hidden)
    if let copy { storePartial(next, copy, hidden) }
  }
}

/// ``stepGRUOneVector(_:_:hidden:input:h:copy:)`` for `count` streams: `xs[b]` and `hs[b]` are
/// stream `b`'s input and `h`. On AVX-512, two streams at a time share every weight load (the one-
/// stream kernel reads each weight once per stream: the batch ran 16 % slower per stream than the
/// panels it replaced before this); each stream gets the same sums in the same order as alone, so
/// the results are bit for bit the one-stream kernel's. Elsewhere (16 registers) one at a time.
/// Does not allocate.
@inline(never)
public func stepGRUOneVectorBatch(
  _ weights: UnsafePointer<Float>, _ xs: UnsafePointer<UnsafePointer<Float>>,
  _ hs: UnsafePointer<UnsafeMutablePointer<Float>>, _ count: Int, hidden: Int, input: Int
) {
  var b = 0
  #if KERNEL_AVX512
    while b &+ 2 <= count {
      stepGRUOneVectorPair(weights, xs[b], hs[b], xs[b &+ 1], hs[b &+ 1], hidden: hidden, input: input)
      b &+= 2
    }
  #endif
  while b < count {
    stepGRUOneVector(
      weights: weights, biases: weights, xs[b], hidden: hidden, input: input, h: hs[b], copy: nil)
    b &+= 1
  }
}

#if KERNEL_AVX512
  /// Two streams through ``stepGRUOneVector(_:_:hidden:input:h:copy:)``'s arithmetic, sharing the
  /// weight loads: per stream the same accumulators, fed in the same order, summed the same way.
  @_transparent
  func stepGRUOneVectorPair(
    _ weights: UnsafePointer<Float>, _ xA: UnsafePointer<Float>, _ hA: UnsafeMutablePointer<Float>,
    _ xB: UnsafePointer<Float>, _ hB: UnsafeMutablePointer<Float>, hidden: Int, input: Int
  ) {
    let lanes = KernelVector.scalarCount
    let bias = weights + (oneVectorGRUBlockSize(hidden: hidden, input: input) &- 4 &* lanes)
    var r0A = load(bias)
    var z0A = load(bias + lanes)
    var m0A = load(bias + 2 &* lanes)
    var r1A = KernelVector()
    var z1A = KernelVector()
    var m1A = KernelVector()
    var r0B = r0A
    var z0B = z0A
    var m0B = m0A
    var r1B = KernelVector()
    var z1B = KernelVector()
    var m1B = KernelVector()
    var w = weights
    let three = 3 &* lanes
    @_transparent func threeRows(
      _ rA: inout KernelVector, _ zA: inout KernelVector, _ mA: inout KernelVector, _ rB: inout KernelVector,
      _ zB: inout KernelVector, _ mB: inout KernelVector, _ w: UnsafePointer<Float>, _ a: Float, _ b: Float
    ) {
      let wr = load(w)
      let wz = load(w + lanes)
      let wn = load(w + 2 &* lanes)
      let va = KernelVector(repeating: a)
      let vb = KernelVector(repeating: b)
      multiplyAdd(&rA, wr, va)
      multiplyAdd(&zA, wz, va)
      multiplyAdd(&mA, wn, va)
      multiplyAdd(&rB, wr, vb)
      multiplyAdd(&zB, wz, vb)
      multiplyAdd(&mB, wn, vb)
    }
    var k = 0
    while k &+ 2 <= input {
      threeRows(&r0A, &z0A, &m0A, &r0B, &z0B, &m0B, w, xA[k], xB[k])
      threeRows(&r1A, &z1A, &m1A, &r1B, &z1B, &m1B, w + three, xA[k &+ 1], xB[k &+ 1])
      w += 2 &* three
      k &+= 2
    }
    if k < input {
      threeRows(&r0A, &z0A, &m0A, &r0B, &z0B, &m0B, w, xA[k], xB[k])
      w += three
    }
    // The first pair of each sum, as the one-stream kernel adds them first.
    let rxA = r0A + r1A
    let zxA = z0A + z1A
    let mxA = m0A + m1A
    let rxB = r0B + r1B
    let zxB = z0B + z1B
    let mxB = m0B + m1B
    let uA = UnsafePointer(hA)
    let uB = UnsafePointer(hB)
    let two = 2 &* lanes
    var r2A = KernelVector()
    var n2A = load(bias + 3 &* lanes)
    var r3A = KernelVector()
    var n3A = KernelVector()
    var r4A = KernelVector()
    var n4A = KernelVector()
    var r5A = KernelVector()
    var n5A = KernelVector()
    var r2B = KernelVector()
    var n2B = n2A
    var r3B = KernelVector()
    var n3B = KernelVector()
    var r4B = KernelVector()
    var n4B = KernelVector()
    var r5B = KernelVector()
    var n5B = KernelVector()
    @_transparent func twoRows(
      _ rA: inout KernelVector, _ nA: inout KernelVector, _ rB: inout KernelVector, _ nB: inout KernelVector,
      _ w: UnsafePointer<Float>, _ a: Float, _ b: Float
    ) {
      let wr = load(w)
      let wn = load(w + lanes)
      let va = KernelVector(repeating: a)
      let vb = KernelVector(repeating: b)
      multiplyAdd(&rA, wr, va)
      multiplyAdd(&nA, wn, va)
      multiplyAdd(&rB, wr, vb)
      multiplyAdd(&nB, wn, vb)
    }
    k = 0
    while k &+ 4 <= hidden {
      twoRows(&r2A, &n2A, &r2B, &n2B, w, uA[k], uB[k])
      twoRows(&r3A, &n3A, &r3B, &n3B, w + two, uA[k &+ 1], uB[k &+ 1])
      twoRows(&r4A, &n4A, &r4B, &n4B, w + 2 &* two, uA[k &+ 2], uB[k &+ 2])
      twoRows(&r5A, &n5A, &r5B, &n5B, w + 3 &* two, uA[k &+ 3], uB[k &+ 3])
      w += 4 &* two
      k &+= 4
    }
    while k < hidden {
      twoRows(&r2A, &n2A, &r2B, &n2B, w, uA[k], uB[k])
      w += two
      k &+= 1
    }
    let nA = hyperbolicTangent(mxA + sigmoid((rxA + (r2A + r3A)) + (r4A + r5A)) * ((n2A + n3A) + (n4A + n5A)))
    let nB = hyperbolicTangent(mxB + sigmoid((rxB + (r2B + r3B)) + (r4B + r5B)) * ((n2B + n3B) + (n4B + n5B)))
    var z2A = KernelVector()
    var z3A = KernelVector()
    var z4A = KernelVector()
    var z5A = KernelVector()
    var z2B = KernelVector()
    var z3B = KernelVector()
    var z4B = KernelVector()
    var z5B = KernelVector()
    @_transparent func oneRow(
      _ zA: inout KernelVector, _ zB: inout KernelVector, _ w: UnsafePointer<Float>, _ a: Float, _ b: Float
    ) {
      let wz = load(w)
      multiplyAdd(&zA, wz, KernelVector(repeating: a))
      multiplyAdd(&zB, wz, KernelVector(repeating: b))
    }
    k = 0
    while k &+ 4 <= hidden {
      oneRow(&z2A, &z2B, w, uA[k], uB[k])
      oneRow(&z3A, &z3B, w + lanes, uA[k &+ 1], uB[k &+ 1])
      oneRow(&z4A, &z4B, w + 2 &* lanes, uA[k &+ 2], uB[k &+ 2])
      oneRow(&z5A, &z5B, w + 3 &* lanes, uA[k &+ 3], uB[k &+ 3])
      w += 4 &* lanes
      k &+= 4
    }
    while k < hidden {
      oneRow(&z2A, &z2B, w, uA[k], uB[k])
      w += lanes
      k &+= 1
    }
    let zA = sigmoid((zxA + (z2A + z3A)) + (z4A + z5A))
    let zB = sigmoid((zxB + (z2B + z3B)) + (z4B + z5B))
    if hidden == lanes {
      store((load(hA) - nA) * zA + nA, hA)
      store((load(hB) - nB) * zB + nB, hB)
    } else {
      storePartial((loadPartial(hA, hidden) - nA) * zA + nA, hA, hidden)
      storePartial((loadPartial(hB, hidden) - nB) * zB + nB, hB, hidden)
    }
  }
#endif

/// Floats in the weight block of ``stepGRUOneVector(_:_:hidden:input:h:copy:)``.
public func oneVectorGRUBlockSize(hidden: Int, input: Int) -> Int {
  (3 * input + 3 * hidden + 4) * KernelVector.scalarCount
}

/// LSTM gates (PyTorch i|f|g|o): `pre` holds `[i, f, g, o]` pre-activations, each `paddedHidden`
/// floats. `c ← σ(f) ⊙ c + σ(i) ⊙ tanh(g)` and `out ← σ(o) ⊙ tanh(c)` (`h`, or the input of the
/// projection).
@inline(never)
public func updateLSTM(
  _ pre: UnsafePointer<Float>, paddedHidden: Int, hidden: Int, c: UnsafeMutablePointer<Float>,
  out: UnsafeMutablePointer<Float>
) {
  let lanes = KernelVector.scalarCount
  var j = 0
  while j < hidden {
    let valid = min(lanes, hidden &- j)
    let i = sigmoid(load(pre + j))
    let f = sigmoid(load(pre + (paddedHidden &+ j)))
    let g = hyperbolicTangent(load(pre + (2 &* paddedHidden &+ j)))
    let o = sigmoid(load(pre + (3 &* paddedHidden &+ j)))
    let previous = valid == lanes ? load(c + j) : loadPartial(c + j, valid)
    let cell = f * previous + i * g
    let hidden = o * hyperbolicTangent(cell)
    if valid == lanes {
      store(cell, c + j)
      store(hidden, out + j)
    } else {
      storePartial(cell, c + j, valid)
      storePartial(hidden, out + j, valid)
    }
    j &+= lanes
  }
}

/// Elman RNN: `h ← tanh(pre)` or `relu(pre)`.
@inline(never)
public func updateRNN(_ pre: UnsafePointer<Float>, hidden: Int, relu: Bool, h: UnsafeMutablePointer<Float>) {
  let lanes = KernelVector.scalarCount
  var j = 0
  while j < hidden {
    let valid = min(lanes, hidden &- j)
    let x = load(pre + j)
    let next = relu ? x.replacing(with: 0, where: x .< 0) : hyperbolicTangent(x)
    if valid == lanes { store(next, h + j) } else { storePartial(next, h + j, valid) }
    j &+= lanes
  }
}

/// Softmax over `count` logits in place (`e^(x − max) / Σ`), with the vector exp.
@inline(never)
public func softmax(_ values: UnsafeMutablePointer<Float>, count: Int) {
  guard count > 0 else { return }
  var maximum = values[0]
  for index in 1..<count where values[index] > maximum { maximum = values[index] }
  let lanes = KernelVector.scalarCount
  var total: Float = 0
  var j = 0
  while j < count {
    let valid = min(lanes, count &- j)
    let e = exponential(loadPartial(values + j, valid) - maximum, scale: 1)
    storePartial(e, values + j, valid)
    for lane in 0..<valid { total += e[lane] }
    j &+= lanes
  }
  let scale = 1 / total
  for index in 0..<count { values[index] *= scale }
}

/// Applies the vector sigmoid (`tanh` when `tangent`) to `count` floats in place; for tests.
@inline(never)
public func applyActivation(_ values: UnsafeMutablePointer<Float>, count: Int, tangent: Bool) {
  let lanes = KernelVector.scalarCount
  var j = 0
  while j < count {
    let valid = min(lanes, count &- j)
    let x = loadPartial(values + j, valid)
    storePartial(tangent ? hyperbolicTangent(x) : sigmoid(x), values + j, valid)
    j &+= lanes
  }
}
