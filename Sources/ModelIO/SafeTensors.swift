import Recurrent

/// The contents of a `.safetensors` file: float tensors by name plus the string metadata.
///
/// Format: an 8-byte little-endian header length `N`, `N` bytes of JSON
/// (`{"__metadata__": {…}, "name": {"dtype", "shape", "data_offsets": [begin, end]}, …}`), then the
/// data section, to which the offsets are relative. F32 is read as is; F64, F16 and BF16 are
/// converted to float32. Everything is validated: a header longer than the file or than
/// ``maximumHeaderSize``, malformed JSON (strictly: a repeated key is an error, see ``JSONValue``),
/// unknown dtypes, offsets that disagree with the shape or point past the end of the file, tensors
/// whose byte ranges overlap or leave a gap, and bytes no tensor claims are each one-line errors
/// (names in them shown printable and cut at 60 characters).
public struct SafeTensorsFile: Sendable {
  /// The header length limit, the same as the reference `safetensors` library's (100 MB).
  public static let maximumHeaderSize = 100_000_000

  /// The `__metadata__` map (string to string), empty when absent.
  public let metadata: [String: String]
  /// Every tensor, converted to float32.
  public let tensors: [String: FloatTensor]

  /// Reads and validates the file at `path`.
  public init(path: String) throws(ModelFileError) {
    try self.init(bytes: FileBytes.read(path), path: path)
  }

  /// Parses a file's bytes; `path` only names the file in errors.
  public init(bytes: [UInt8], path: String) throws(ModelFileError) {
    func fail(_ reason: String) -> ModelFileError { ModelFileError(path: path, reason: reason) }
    guard bytes.count >= 8 else {
      throw fail(
        "truncated: \(bytes.count) bytes, but a safetensors file starts with an 8-byte header length")
    }
    let headerSize = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard headerSize <= UInt64(Self.maximumHeaderSize) else {
      throw fail(
        "header length \(headerSize) exceeds the limit of \(Self.maximumHeaderSize) bytes (corrupt or not a safetensors file)"
      )
    }
    let dataStart = 8 + Int(headerSize)
    guard dataStart <= bytes.count else {
      throw fail("truncated: the header claims \(headerSize) bytes but only \(bytes.count - 8) follow")
    }
    guard let headerValue = JSONValue.parse(bytes[8..<dataStart]) else {
      throw fail("corrupt header: not valid JSON")
    }
    guard let header = headerValue.object else {
      throw fail("corrupt header: expected a JSON object")
    }

    var metadata: [String: String] = [:]
    if let rawMetadata = header["__metadata__"] {
      guard let map = rawMetadata.object else {
        throw fail("corrupt header: __metadata__ must be an object of strings")
      }
      for (key, value) in map {
        guard let text = value.string else {
          throw fail("corrupt header: __metadata__ value for '\(printable(key))' is not a string")
        }
        metadata[key] = text
      }
    }

    let dataSize = bytes.count - dataStart
    // Each tensor's entry, checked alone; then the byte ranges together: sorted by offset they must
    // follow each other with no overlap and no gap and end at the end of the file (the format's
    // rule, which the reference loader enforces).
    var entries: [(name: String, dtype: ElementType, shape: [Int], begin: Int, end: Int)] = []
    for (name, entry) in header where name != "__metadata__" {
      let shown = printable(name)
      guard let fields = entry.object, let dtypeName = fields["dtype"]?.string,
        let shapeValues = fields["shape"]?.array, let offsetValues = fields["data_offsets"]?.array
      else {
        throw fail("corrupt header: tensor '\(shown)' needs dtype, shape and data_offsets")
      }
      let shape = shapeValues.compactMap(\.nonNegativeInteger)
      let offsets = offsetValues.compactMap(\.nonNegativeInteger)
      guard shape.count == shapeValues.count, shape.count <= 8 else {
        throw fail(
          "corrupt header: tensor '\(shown)' has an invalid shape (non-negative integers, at most 8)")
      }
      guard offsets.count == 2, offsetValues.count == 2, offsets[0] <= offsets[1] else {
        throw fail("corrupt header: tensor '\(shown)' has invalid data_offsets")
      }
      guard let dtype = ElementType(rawValue: dtypeName) else {
        throw fail(
          "tensor '\(shown)' has dtype \(printable(dtypeName)); expected F32 (F64, F16 and BF16 are converted)"
        )
      }
      let (elementCount, overflow) = shape.reduce((1, false)) { partial, dimension in
        let product = partial.0.multipliedReportingOverflow(by: dimension)
        return (product.partialValue, partial.1 || product.overflow)
      }
      let byteCount = elementCount.multipliedReportingOverflow(by: dtype.byteWidth)
      guard !overflow, !byteCount.overflow, byteCount.partialValue == offsets[1] - offsets[0] else {
        throw fail(
          "corrupt header: tensor '\(shown)' of shape \(shape) \(dtypeName) spans \(offsets[1] - offsets[0]) bytes"
        )
      }
      guard offsets[1] <= dataSize else {
        throw fail(
          "truncated: tensor '\(shown)' needs data bytes \(offsets[0])..<\(offsets[1]) but the file holds \(dataSize)"
        )
      }
      entries.append((name, dtype, shape, offsets[0], offsets[1]))
    }
    entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
    var covered = 0
    for entry in entries {
      guard entry.begin == covered else {
        throw fail(
          entry.begin < covered
            ? "corrupt header: tensor '\(printable(entry.name))' overlaps another tensor's bytes (\(entry.begin)..<\(entry.end))"
            : "corrupt header: \(entry.begin - covered) data bytes before tensor '\(printable(entry.name))' belong to no tensor"
        )
      }
      covered = entry.end
    }
    guard covered == dataSize else {
      throw fail("corrupt: \(dataSize - covered) bytes after the last tensor's data")
    }
    var tensors: [String: FloatTensor] = [:]
    for entry in entries {
      let values = bytes.withUnsafeBytes { raw in
        entry.dtype.decode(
          UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.begin)..<(dataStart + entry.end)]))
      }
      tensors[entry.name] = FloatTensor(shape: entry.shape, values: values)
    }
    self.metadata = metadata
    self.tensors = tensors
  }
}

/// Floating-point dtypes as spelled in safetensors headers, and how to read them as float32.
enum ElementType: String {
  case f32 = "F32"
  case f64 = "F64"
  case f16 = "F16"
  case bf16 = "BF16"

  var byteWidth: Int {
    switch self {
    case .f32: 4
    case .f64: 8
    case .f16, .bf16: 2
    }
  }

  /// Little-endian elements → float32 (F64 rounds to nearest; F16/BF16 convert exactly).
  func decode(_ raw: UnsafeRawBufferPointer) -> [Float] {
    let count = raw.count / byteWidth
    return (0..<count).map { index in
      let offset = index * byteWidth
      switch self {
      case .f32:
        return Float(
          bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
      case .f64:
        return Float(
          Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        )
      case .bf16:
        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        return Float(bitPattern: UInt32(bits) << 16)
      case .f16:
        return halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
      }
    }
  }
}

/// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN included).
func halfToFloat(_ bits: UInt16) -> Float {
  let sign = UInt32(bits & 0x8000) << 16
  let exponent = Int((bits >> 10) & 0x1F)
  let mantissa = UInt32(bits & 0x3FF)
  switch exponent {
  case 0:
    // Zero or subnormal: mantissa · 2^-24.
    let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign != 0 ? -magnitude : magnitude
  case 0x1F:
    return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
  default:
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
  }
}

/// `text` as a JSON string literal (quotes, backslashes and control characters escaped).
public func jsonQuoted(_ text: String) -> String {
  var result = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case _ where scalar.value < 0x20:
      let hex = String(scalar.value, radix: 16)
      result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}

extension SafeTensorsFile {
  /// The bytes of a safetensors file holding `tensors` as F32 and `metadata`, tensors laid out in
  /// the given order (as `safetensors.torch.save_file` would write them, up to key order).
  public static func encoded(tensors: [(name: String, tensor: FloatTensor)], metadata: [String: String] = [:])
    -> [UInt8]
  {
    var entries: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
      entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var data: [UInt8] = []
    for (name, tensor) in tensors {
      let begin = data.count
      for value in tensor.values {
        let bits = value.bitPattern.littleEndian
        data += [
          UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24),
        ]
      }
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      entries.append(
        "\(jsonQuoted(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}"
      )
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    // Pad with spaces to a multiple of 8 bytes, as the reference writer does, to keep data aligned.
    header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
    let size = UInt64(header.count)
    return (0..<8).map { UInt8((size >> (8 * UInt64($0))) & 0xFF) } + header + data
  }
}
