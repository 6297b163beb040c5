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
    guard headerSize <= bytes.count - headerStart else { throw fail("truncated .npy header") }
    let header: NpyHeader
    do {
      header = try NpyHeader(bytes[headerStart..<(headerStart + headerSize)])
    } catch {
      throw fail("corrupt .npy header: \(error.reason)")
    }
    guard header.descr == "<f4" || header.descr == "=f4" || header.descr == "|f4" else {
      throw fail(
        "dtype '\(printable(header.descr))', expected float32 ('<f4'); convert with arr.astype(np.float32)")
    }
    guard !header.fortranOrder else {
      throw fail("Fortran-ordered array, expected C order; use np.ascontiguousarray(arr)")
    }
    let shape = header.shape
    let dataStart = headerStart + headerSize
    let dataBytes = bytes.count - dataStart
    var count = 1
    var overflow = false
    for dimension in shape {
      let product = count.multipliedReportingOverflow(by: dimension)
      overflow = overflow || product.overflow
      count = product.partialValue
    }
    guard !overflow, count <= dataBytes / 4, dataBytes == count * 4 else {
      throw fail(
        "holds \(dataBytes) data bytes, but shape \(shape) float32 needs \(overflow || count > Int.max / 4 ? "more" : String(count * 4)) (truncated or corrupt)"
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
}

/// The header of a `.npy` file, read by the format's own grammar: a Python dict literal with
/// exactly the keys `'descr'` (a string), `'fortran_order'` (`True`/`False`) and `'shape'` (a
/// tuple of non-negative integers, at most 32), each once, optionally followed by a comma, then
/// spaces and a newline. ASCII only. Anything else is refused with a reason that never echoes the
/// raw bytes.
struct NpyHeader {
  struct Failure: Error {
    let reason: String
  }

  var descr = ""
  var fortranOrder = false
  var shape: [Int] = []

  init(_ bytes: ArraySlice<UInt8>) throws(Failure) {
    guard bytes.allSatisfy({ $0 == 0x0A || (0x20..<0x7F).contains($0) }) else {
      throw Failure(reason: "not ASCII text")
    }
    var rest = bytes[...]
    func skipSpace() { while let first = rest.first, first == 0x20 { rest = rest.dropFirst() } }
    func take(_ character: Character) -> Bool {
      skipSpace()
      guard rest.first == character.asciiValue else { return false }
      rest = rest.dropFirst()
      return true
    }
    func expect(_ character: Character, _ what: String) throws(Failure) {
      guard take(character) else { throw Failure(reason: "expected \(what)") }
    }
    func quoted() throws(Failure) -> String {
      skipSpace()
      guard let quote = rest.first, quote == 0x27 || quote == 0x22 else {
        throw Failure(reason: "expected a quoted string")
      }
      rest = rest.dropFirst()
      guard let close = rest.firstIndex(of: quote) else { throw Failure(reason: "unterminated string") }
      let text = String(decoding: rest[..<close], as: UTF8.self)
      rest = rest[(close + 1)...]
      guard text.count <= 64 else { throw Failure(reason: "a string longer than 64 characters") }
      return text
    }
    func integer() throws(Failure) -> Int {
      skipSpace()
      let digits = rest.prefix { (0x30...0x39).contains($0) }
      var value = 0
      for digit in digits {
        let (times, overflowed) = value.multipliedReportingOverflow(by: 10)
        let (sum, carried) = times.addingReportingOverflow(Int(digit - 0x30))
        guard !overflowed, !carried else { throw Failure(reason: "a dimension larger than \(Int.max)") }
        value = sum
      }
      guard !digits.isEmpty else { throw Failure(reason: "expected a dimension (a non-negative integer)") }
      rest = rest.dropFirst(digits.count)
      return value
    }
    var seen: Set<String> = []
    try expect("{", "'{'")
    while !take("}") {
      let key = try quoted()
      guard seen.insert(key).inserted else { throw Failure(reason: "key '\(printable(key))' appears twice") }
      try expect(":", "':' after a key")
      switch key {
      case "descr":
        descr = try quoted()
      case "fortran_order":
        skipSpace()
        if rest.starts(with: Array("True".utf8)) {
          fortranOrder = true
          rest = rest.dropFirst(4)
        } else if rest.starts(with: Array("False".utf8)) {
          rest = rest.dropFirst(5)
        } else {
          throw Failure(reason: "fortran_order must be True or False")
        }
      case "shape":
        try expect("(", "a shape tuple")
        while !take(")") {
          shape.append(try integer())
          guard shape.count <= 32 else { throw Failure(reason: "more than 32 dimensions") }
          // One dimension needs its comma: (3,) is a tuple, (3) is not; then ',' or ')'.
          if take(",") { continue }
          guard shape.count > 1 else { throw Failure(reason: "a one-element shape needs a trailing comma") }
          try expect(")", "',' or ')' in the shape")
          break
        }
      default:
        throw Failure(reason: "unknown key '\(printable(key))'")
      }
      if take(",") { continue }
      try expect("}", "',' or '}'")
      break
    }
    guard seen == ["descr", "fortran_order", "shape"] else {
      throw Failure(reason: "needs the keys 'descr', 'fortran_order' and 'shape'")
    }
    while let first = rest.first, first == 0x20 || first == 0x0A { rest = rest.dropFirst() }
    guard rest.isEmpty else { throw Failure(reason: "text after the dictionary") }
  }
}
