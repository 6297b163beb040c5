#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A parsed JSON document: the model file's header and its JSON metadata values.
///
/// Parsed by ``parse(_:)-(some Collection<UInt8>)``, a strict RFC 8259 reader of our own: hostile
/// files reach it, so it refuses what a lenient decoder lets through — a repeated key in an object
/// (which value would win is undefined), trailing commas, nesting deeper than
/// ``maximumDepth`` (a deep file would otherwise exhaust the stack), invalid UTF-8, lone
/// surrogate escapes, and numbers beyond Double. Booleans stay apart from numbers (`true` is not
/// `1`), which metadata validation relies on. Encoding goes through FoundationEssentials'
/// `JSONEncoder` (no full Foundation, no ICU).
public enum JSONValue: Sendable, Equatable, Codable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  /// Arrays and objects nested deeper than this are refused.
  public static let maximumDepth = 64

  /// Parses UTF-8 JSON text; nil when it is not valid, strict JSON (see the type's notes).
  public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
    var parser = JSONParser(bytes: Array(bytes))
    guard let value = parser.value(depth: 0) else { return nil }
    parser.skipSpace()
    return parser.position == parser.bytes.count ? value : nil
  }

  /// Parses JSON text; nil when it is not valid JSON.
  public static func parse(_ text: String) -> JSONValue? { parse(Array(text.utf8)) }

  /// Decodes any JSON value (for `JSONDecoder`; use ``parse(_:)-(String)``).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// Encodes the value as the JSON it stands for (for `JSONEncoder`; use ``encoded()``).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .number(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// UTF-8 JSON text, indented, keys sorted (stable files for tools and diffs). Whole numbers are
  /// written without a fraction (`617`, not `617.0`).
  public func encoded() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // Encoding fails only on non-finite numbers, which JSON cannot hold: write them as null.
    guard let data = try? encoder.encode(self) else { return Array("null".utf8) }
    return Array(data)
  }

  /// The members of an object, else nil.
  public var object: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
  /// The elements of an array, else nil.
  public var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
  /// The text of a string, else nil.
  public var string: String? { if case .string(let value) = self { value } else { nil } }
  /// The value of a number (not a boolean), else nil.
  public var number: Double? { if case .number(let value) = self { value } else { nil } }
  /// The value of `true`/`false`, else nil.
  public var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
  /// Whether this is `null`.
  public var isNull: Bool { self == .null }

  /// A whole number within ±2^53 (the range JSON keeps exact), else nil; converting larger values
  /// to `Int` could trap.
  public var integer: Int? {
    guard let value = number, value.rounded() == value, abs(value) < 9_007_199_254_740_992 else { return nil }
    return Int(value)
  }

  /// A non-negative ``integer`` (a count, a size or an offset), else nil.
  public var nonNegativeInteger: Int? { integer.flatMap { $0 >= 0 ? $0 : nil } }
}

/// A strict recursive-descent JSON reader over UTF-8 bytes (RFC 8259). Every method returns nil at
/// the first byte that is not JSON.
struct JSONParser {
  let bytes: [UInt8]
  var position = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  mutating func skipSpace() {
    while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  mutating func value(depth: Int) -> JSONValue? {
    guard depth <= JSONValue.maximumDepth else { return nil }
    skipSpace()
    guard position < bytes.count else { return nil }
    switch bytes[position] {
    case UInt8(ascii: "{"): return object(depth: depth + 1)
    case UInt8(ascii: "["): return array(depth: depth + 1)
    case UInt8(ascii: "\""): return string().map(JSONValue.string)
    case UInt8(ascii: "t"): return literal("true", .bool(true))
    case UInt8(ascii: "f"): return literal("false", .bool(false))
    case UInt8(ascii: "n"): return literal("null", .null)
    default: return number()
    }
  }

  private mutating func literal(_ text: StaticString, _ value: JSONValue) -> JSONValue? {
    let count = text.utf8CodeUnitCount
    guard position + count <= bytes.count else { return nil }
    for index in 0..<count where bytes[position + index] != text.utf8Start[index] { return nil }
    position += count
    return value
  }

  private mutating func object(depth: Int) -> JSONValue? {
    position += 1
    var members: [String: JSONValue] = [:]
    skipSpace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipSpace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = string() else {
        return nil
      }
      skipSpace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
      position += 1
      guard let member = value(depth: depth), members.updateValue(member, forKey: key) == nil else {
        return nil
      }
      skipSpace()
      guard position < bytes.count else { return nil }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "}") else { return nil }
      position += 1
      return .object(members)
    }
  }

  private mutating func array(depth: Int) -> JSONValue? {
    position += 1
    var elements: [JSONValue] = []
    skipSpace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      guard let element = value(depth: depth) else { return nil }
      elements.append(element)
      skipSpace()
      guard position < bytes.count else { return nil }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "]") else { return nil }
      position += 1
      return .array(elements)
    }
  }

  /// A string literal at `position` (which holds its opening quote).
  mutating func string() -> String? {
    position += 1
    var scalars = String.UnicodeScalarView()
    var raw: [UInt8] = []
    func flushRaw() -> Bool {
      guard !raw.isEmpty else { return true }
      // Validate the unescaped run as UTF-8.
      var decoder = UTF8()
      var iterator = raw.makeIterator()
      loop: while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar): scalars.append(scalar)
        case .emptyInput: break loop
        case .error: return false
        }
      }
      raw.removeAll(keepingCapacity: true)
      return true
    }
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        return flushRaw() ? String(scalars) : nil
      case UInt8(ascii: "\\"):
        guard flushRaw(), position < bytes.count else { return nil }
        let escape = bytes[position]
        position += 1
        switch escape {
        case UInt8(ascii: "\""): scalars.append("\"")
        case UInt8(ascii: "\\"): scalars.append("\\")
        case UInt8(ascii: "/"): scalars.append("/")
        case UInt8(ascii: "b"): scalars.append("\u{08}")
        case UInt8(ascii: "f"): scalars.append("\u{0C}")
        case UInt8(ascii: "n"): scalars.append("\n")
        case UInt8(ascii: "r"): scalars.append("\r")
        case UInt8(ascii: "t"): scalars.append("\t")
        case UInt8(ascii: "u"):
          guard let first = hex4() else { return nil }
          if (0xD800..<0xDC00).contains(first) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
              bytes[position + 1] == UInt8(ascii: "u")
            else { return nil }
            position += 2
            guard let second = hex4(), (0xDC00..<0xE000).contains(second) else { return nil }
            guard let scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)) else {
              return nil
            }
            scalars.append(scalar)
          } else {
            guard let scalar = Unicode.Scalar(first) else { return nil }  // a lone low surrogate
            scalars.append(scalar)
          }
        default: return nil
        }
      case 0x00..<0x20: return nil  // control characters must be escaped
      default: raw.append(byte)
      }
    }
    return nil
  }

  private mutating func hex4() -> UInt32? {
    guard position + 4 <= bytes.count else { return nil }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      position += 1
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: return nil
      }
      value = value << 4 | UInt32(digit)
    }
    return value
  }

  /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as a Double.
  private mutating func number() -> JSONValue? {
    let start = position
    func digits() -> Int {
      let begin = position
      while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
        position += 1
      }
      return position - begin
    }
    if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
    guard position < bytes.count else { return nil }
    if bytes[position] == UInt8(ascii: "0") {
      position += 1
    } else if digits() == 0 {
      return nil
    }
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      position += 1
      guard digits() > 0 else { return nil }
    }
    if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
      position += 1
      if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
      {
        position += 1
      }
      guard digits() > 0 else { return nil }
    }
    // Long digit runs are fine for Double's parser; a number beyond Double's range is refused.
    guard let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)), value.isFinite else {
      return nil
    }
    return .number(value)
  }
}
