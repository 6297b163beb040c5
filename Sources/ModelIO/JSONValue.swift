#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A parsed JSON document: the model file's header and its JSON metadata values.
///
/// Decoded with FoundationEssentials' `JSONDecoder`, so the command-line tool does not load the
/// full Foundation (and ICU): about 7 MB less resident memory. Booleans stay apart from numbers
/// (`true` is not `1`), which metadata validation relies on. The parser accepts a trailing comma
/// in arrays and objects (`[1,]`), as that decoder does; anything else that is not JSON is refused.
public enum JSONValue: Sendable, Equatable, Codable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  /// Parses UTF-8 JSON text; nil when it is not valid JSON (or holds a number beyond Double).
  public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
    try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
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
