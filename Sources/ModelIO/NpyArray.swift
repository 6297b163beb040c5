/// A float32 NumPy array in C order, read from or written to a `.npy` file (format 1.0–3.0).
///
/// Only little-endian float32 (`'<f4'`) in C order is accepted: anything else is a one-line error
/// that names the file, what it holds and what was expected, never a silent conversion.
public struct NpyArray: Sendable, Equatable {
  /// Dimensions, outermost first (`[]` for a scalar).
  public let shape: [Int]
  /// `shape.reduce(1, *)` values in C (row-major) order.
  public let values: [Float]

  /// Wraps values with their shape; the counts must agree.
  public init(shape: [Int], values: [Float]) {
    precondition(shape.reduce(1, *) == values.count, "\(values.count) values for shape \(shape)")
    self.shape = shape
    self.values = values
  }

  /// Reads the `.npy` file at `path`.
  public init(path: String) throws(ModelFileError) {
    try self.init(bytes: FileBytes.read(path), path: path)
  }

  /// Parses `.npy` bytes; `path` only names the file in errors.
  public init(bytes: [UInt8], path: String) throws(ModelFileError) {
    func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }
    let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw fail("not a .npy file (no \\x93NUMPY magic)")
    }
    let major = bytes[6]
    let headerStart: Int
    let headerSize: Int
    switch major {
    case 1:
      headerStart = 10
      headerSize = Int(bytes[8]) | Int(bytes[9]) << 8
    case 2, 3:
      guard bytes.count >= 12 else { throw fail("truncated .npy header") }
      headerStart = 12
      headerSize = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
    default:
      throw fail("unsupported .npy format version \(major)")
    }
    guard headerStart + headerSize <= bytes.count else { throw fail("truncated .npy header") }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerSize)], as: UTF8.self)
    guard let descr = Self.field("descr", in: header), let order = Self.field("fortran_order", in: header),
      let shapeText = Self.field("shape", in: header)
    else {
      throw fail("corrupt .npy header: \(header.trimmingSpaces)")
    }
    let dtype = descr.trimmingCharacters(quotes: true)
    guard dtype == "<f4" || dtype == "=f4" || dtype == "|f4" else {
      throw fail("dtype '\(dtype)', expected float32 ('<f4'); convert with arr.astype(np.float32)")
    }
    guard order == "False" else {
      throw fail("Fortran-ordered array, expected C order; use np.ascontiguousarray(arr)")
    }
    let inner = shapeText.trimmingCharacters(quotes: false).dropFirst().dropLast()
    var shape: [Int] = []
    for part in inner.split(separator: ",") {
      let trimmed = String(part).trimmingSpaces
      if trimmed.isEmpty { continue }
      guard let dimension = Int(trimmed), dimension >= 0 else {
        throw fail("corrupt .npy shape \(shapeText)")
      }
      shape.append(dimension)
    }
    let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
      let product = partial.0.multipliedReportingOverflow(by: dimension)
      return (product.partialValue, partial.1 || product.overflow)
    }
    let dataStart = headerStart + headerSize
    guard !overflow, count <= (bytes.count - dataStart) / 4, bytes.count - dataStart == count * 4 else {
      throw fail(
        "holds \(bytes.count - dataStart) data bytes, but shape \(shape) float32 needs \(overflow ? "more" : String(count * 4)) (truncated or corrupt)"
      )
    }
    self.shape = shape
    self.values = bytes.withUnsafeBytes { raw in
      (0..<count).map { index in
        Float(
          bitPattern: UInt32(
            littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * index, as: UInt32.self)))
      }
    }
  }

  /// The file's bytes: format 1.0, header padded so data starts at a multiple of 64.
  public func encoded() -> [UInt8] {
    let shapeText: String
    switch shape.count {
    case 0: shapeText = "()"
    case 1: shapeText = "(\(shape[0]),)"
    default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
    bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    bytes += Array(header.utf8)
    bytes.reserveCapacity(bytes.count + 4 * values.count)
    for value in values {
      let bits = value.bitPattern.littleEndian
      bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
    }
    return bytes
  }

  /// Writes any bytes to `path` atomically, as ``write(to:)`` does (for the CLI's other outputs).
  public static func writeBytes(_ bytes: [UInt8], to path: String) throws(ModelFileError) {
    try FileBytes.writeAtomically(bytes, to: path)
  }

  /// Writes the array to `path` atomically (a partial file is never left behind).
  public func write(to path: String) throws(ModelFileError) {
    try FileBytes.writeAtomically(encoded(), to: path)
  }

  /// The raw text of `'key': value` in a NumPy header dict (value up to the matching `,`/`}`).
  static func field(_ key: String, in header: String) -> String? {
    guard let keyRange = header.firstRange(of: "'\(key)'") else { return nil }
    var rest = header[keyRange.upperBound...].drop { $0 == " " }
    guard rest.first == ":" else { return nil }
    rest = rest.dropFirst().drop { $0 == " " }
    var depth = 0
    var end = rest.startIndex
    while end < rest.endIndex {
      let character = rest[end]
      if character == "(" { depth += 1 }
      if character == ")" { depth -= 1 }
      if depth == 0 && (character == "," || character == "}") { break }
      end = rest.index(after: end)
    }
    return String(rest[rest.startIndex..<end])
  }
}

extension StringProtocol {
  var trimmingSpaces: String {
    String(drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
  }
  func trimmingCharacters(quotes: Bool) -> String {
    let trimmed = trimmingSpaces
    guard quotes else { return trimmed }
    return String(
      trimmed.drop { $0 == "'" || $0 == "\"" }.reversed().drop { $0 == "'" || $0 == "\"" }.reversed())
  }
}
