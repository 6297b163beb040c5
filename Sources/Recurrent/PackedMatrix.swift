/// A matrix packed for the step's SIMD kernels, for other layers that are matrix × vector (a
/// learned frontend's STFT and convolutions): `y = W x + b`.
///
/// Packed once at init into panels of the kernel's lane count; ``multiply(_:into:)`` does not
/// allocate or lock. `y` must have room for ``paddedRows`` floats (rows are padded to whole
/// vectors; the extra values are zeros).
public final class PackedMatrix: @unchecked Sendable {
  /// Output rows.
  public let rows: Int
  /// Input columns.
  public let columns: Int
  /// `rows` rounded up to whole vectors: the room `y` needs.
  public let paddedRows: Int
  /// The instruction set it runs on.
  public let kernel: RecurrentKernel
  private let functions: KernelFunctions
  private let weights: PackedWeights
  private let descriptors: UnsafeMutablePointer<Int>
  private let panelCount: Int

  /// Packs `weight(row, column)` and `bias(row)`.
  public init(
    rows: Int, columns: Int, kernel: RecurrentKernel = .preferred, weight: (Int, Int) -> Float,
    bias: (Int) -> Float = { _ in 0 }
  ) {
    precondition(rows > 0 && columns > 0, "empty matrix")
    self.rows = rows
    self.columns = columns
    self.kernel = kernel.isAvailable ? kernel : .preferred
    functions = self.kernel.functions
    var packer = PanelPacker(lanes: functions.lanes)
    packer.addGroup(rows: rows, outputRow: 0, inputStart: 0, inputCount: columns, weight: weight, bias: bias)
    paddedRows = padded(rows, to: functions.lanes)
    weights = PackedWeights(packer.weights)
    panelCount = packer.panelCount
    descriptors = .allocate(capacity: packer.descriptors.count)
    for (index, value) in packer.descriptors.enumerated() { descriptors[index] = value }
  }

  deinit { descriptors.deallocate() }

  /// `y[0..<paddedRows] = W x + b` for `x` of ``columns`` floats. Does not allocate or lock.
  @inline(__always)
  public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    functions.multiply(weights.base, descriptors, panelCount, x, y)
  }

  /// `y[b] = W x[b] + b` for `count` vectors at once (`xs[i]` of ``columns`` floats, `ys[i]` with
  /// room for ``paddedRows``): the weights are read from memory once for all of them, and each
  /// result equals ``multiply(_:into:)`` bit for bit. Does not allocate or lock.
  @inline(__always)
  public func multiplyBatch(
    _ xs: UnsafePointer<UnsafePointer<Float>>, into ys: UnsafePointer<UnsafeMutablePointer<Float>>, count: Int
  ) {
    functions.multiplyBatch(weights.base, descriptors, panelCount, xs, ys, count)
  }
}
