#if canImport(Glibc)
  import Glibc
#endif

/// Every weight and bias of a model, packed once at load into panels the kernels stream.
///
/// A panel is `R` output rows (1 or 4 vectors of the kernel's lane count, or 4 rows) over a run of `K` inputs,
/// stored k-major: `K × R` weights, then `R` biases. Rows beyond a group's end are zero. Descriptors
/// (six Ints each) say where each panel reads, writes and lives; see `multiplyPanels` in
/// RecurrentKernelSource/Kernels.swift. The buffer is 64-byte aligned and never changes after init.
final class PackedWeights: @unchecked Sendable {
  /// `count` floats, 64-byte aligned.
  let base: UnsafeMutablePointer<Float>
  let count: Int
  /// With ``WeightStorage/float16``: the same layout as `base`, element for element, rounded to
  /// float16 (64-byte aligned). The kernels then read weights from here and biases from `base`.
  let half: UnsafeMutablePointer<Float16>?

  init(_ values: [Float], storage: WeightStorage = .float32) {
    let count = values.count
    self.count = count
    let raw = Self.allocate(byteCount: max(count, 1) * 4)
    let base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    base.initialize(repeating: 0, count: max(count, 1))
    values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    self.base = base
    if storage == .float16 {
      let halfRaw = Self.allocate(byteCount: max(count, 1) * 2)
      let half = halfRaw.bindMemory(to: Float16.self, capacity: max(count, 1))
      half.initialize(repeating: 0, count: max(count, 1))
      for index in 0..<count { half[index] = Float16(values[index]) }
      self.half = half
    } else {
      half = nil
    }
  }

  deinit {
    UnsafeMutableRawPointer(base).deallocate()
    if let half { UnsafeMutableRawPointer(half).deallocate() }
  }

  /// Bytes from which weights go on 2 MiB pages.
  static let hugePageThreshold = 256 * 1024
  static let hugePageSize = 2 * 1024 * 1024

  /// 64-byte aligned storage; from ``hugePageThreshold`` up, 2 MiB aligned, rounded up to whole
  /// 2 MiB, and marked for transparent huge pages (Linux `madvise(MADV_HUGEPAGE)`, honoured when
  /// `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise`). A step streams every
  /// weight: gru1x256's 0.9 MB span 222 pages of 4 KiB but one huge page, so the step stops
  /// walking the TLB (measured on Zen 4: see README, Speed). Freed with `deallocate()`.
  static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
    #if os(Linux)
      if byteCount >= hugePageThreshold {
        let rounded = (byteCount + hugePageSize - 1) / hugePageSize * hugePageSize
        let raw = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: hugePageSize)
        _ = madvise(raw, rounded, MADV_HUGEPAGE)
        return raw
      }
    #endif
    return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
  }
}

/// A run of panel descriptors: `count` of them from index `start`.
struct PanelRun: Sendable {
  var start: Int
  var count: Int
}

/// How one cell (layer, direction) runs.
struct CellPlan: Sendable {
  /// Width of this cell's input: `input_size` for layer 0, `D * H_out` above.
  var inputSize: Int
  /// The gate panels over `u = [x; h]`, writing `pre`.
  var gates: PanelRun
  /// LSTM `proj_size > 0`: `W_hr` panels over `o ⊙ tanh(c)`.
  var projection: PanelRun?
  /// A GRU cell with `H ≤` the lane count: the offset of its own weight block (see
  /// `stepGRUOneVector` in RecurrentKernelSource/Kernels.swift), which the step, the batched step
  /// and the sequence run all use instead of `gates` (so they stay equal bit for bit).
  var oneVectorGRU: Int?
}

/// Builds the packed weights and descriptors.
struct PanelPacker {
  let lanes: Int
  var weights: [Float] = []
  var descriptors: [Int] = []
  var panelCount: Int { descriptors.count / 6 }

  /// Appends panels computing `rows` outputs at `outputRow…` from inputs `inputStart ..< + inputCount`:
  /// `out[r] = bias(r) + Σ_k weight(r, k) · u[inputStart + k]`.
  mutating func addGroup(
    rows: Int, outputRow: Int, inputStart: Int, inputCount: Int, weight: (Int, Int) -> Float,
    bias: (Int) -> Float
  ) {
    // Up to four rows (a small head): one four-row panel (4-lane vectors, 4 rows stored per k).
    if rows <= 4 {
      descriptors += [outputRow, inputStart, inputCount, weights.count, weights.count + inputCount * 4, 0]
      for k in 0..<inputCount {
        for row in 0..<4 { weights.append(row < rows ? weight(row, k) : 0) }
      }
      for row in 0..<4 { weights.append(row < rows ? bias(row) : 0) }
      return
    }
    // Four-vector panels while four vectors of rows remain (fewer broadcasts per weight), one-vector
    // panels for the rest. Four-vector panels from 4 vectors up (not 8, as before) measured 2-3 %
    // faster on gru2x64+head (its 64-row gate groups; 12 alternating runs, three sittings) and
    // unchanged elsewhere.
    let paddedRows = padded(rows, to: lanes)
    var panelStart = 0
    while panelStart < rows {
      let vectors = paddedRows - panelStart >= 4 * lanes ? 4 : 1
      let height = vectors * lanes
      descriptors += [
        outputRow + panelStart, inputStart, inputCount, weights.count, weights.count + inputCount * height,
        vectors,
      ]
      for k in 0..<inputCount {
        for offset in 0..<height {
          let row = panelStart + offset
          weights.append(row < rows ? weight(row, k) : 0)
        }
      }
      for offset in 0..<height {
        let row = panelStart + offset
        weights.append(row < rows ? bias(row) : 0)
      }
      panelStart += height
    }
  }
}

extension PanelPacker {
  /// Appends the weight block of a GRU cell with `hidden ≤ lanes` for `stepGRUOneVector`, 64-byte
  /// aligned, and returns its offset. Rows from `hidden` up are zero. Over `x`, per k, three
  /// vectors `[W_ir, W_iz, W_in]`; over `h`, per k, `[W_hr, W_hn]`; then per k `W_hz`; then four
  /// bias vectors `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`. `weightIH(gate, row, k)` and
  /// `weightHH(gate, row, k)` read PyTorch's gate `gate` (0 r, 1 z, 2 n); `bias(slot, row)` gives
  /// the four biases in that order.
  mutating func addOneVectorGRU(
    hidden: Int, input: Int, weightIH: (Int, Int, Int) -> Float, weightHH: (Int, Int, Int) -> Float,
    bias: (Int, Int) -> Float
  ) -> Int {
    precondition(hidden <= lanes, "a one-vector GRU has at most one vector of hidden units")
    while weights.count % 16 != 0 { weights.append(0) }
    let offset = weights.count
    func append(_ value: (Int) -> Float) {
      for row in 0..<lanes { weights.append(row < hidden ? value(row) : 0) }
    }
    for k in 0..<input {
      for gate in 0..<3 { append { weightIH(gate, $0, k) } }
    }
    for k in 0..<hidden {
      append { weightHH(0, $0, k) }
      append { weightHH(2, $0, k) }
    }
    for k in 0..<hidden { append { weightHH(1, $0, k) } }
    for slot in 0..<4 { append { bias(slot, $0) } }
    precondition(weights.count - offset == (3 * input + 3 * hidden + 4) * lanes, "one-vector GRU block size")
    return offset
  }
}

extension FloatTensor {
  /// Element `[row, column]` of a matrix, or `[row]` of a vector (`column` 0).
  @inline(__always)
  func at(_ row: Int, _ column: Int = 0) -> Float { values[row * (shape.count == 2 ? shape[1] : 1) + column] }
}

/// Rounds `count` up to a multiple of `lanes`.
func padded(_ count: Int, to lanes: Int) -> Int { (count + lanes - 1) / lanes * lanes }
