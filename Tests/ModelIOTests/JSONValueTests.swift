import ModelIO
import Testing

@Suite("JSON values: the header and metadata parser")
struct JSONValueTests {
  @Test func booleansNumbersAndStringsStayApart() throws {
    let value = try #require(
      JSONValue.parse(#"{"a": true, "b": 1, "c": 1.5, "d": "x", "e": null, "f": [0, -2]}"#))
    let object = try #require(value.object)
    #expect(object["a"] == .bool(true) && object["a"]?.integer == nil)
    #expect(object["b"]?.integer == 1 && object["b"]?.bool == nil)
    #expect(object["c"]?.number == 1.5 && object["c"]?.integer == nil)
    #expect(object["d"]?.string == "x" && object["d"]?.number == nil)
    #expect(object["e"]?.isNull == true)
    #expect(object["f"]?.array?.compactMap(\.integer) == [0, -2])
    #expect(object["f"]?.array?.compactMap(\.nonNegativeInteger) == [0], "never negative")
  }

  @Test func countsStayWhereJSONIsExact() {
    #expect(JSONValue.parse("9007199254740991")?.nonNegativeInteger == 9_007_199_254_740_991)
    #expect(JSONValue.parse("9007199254740992")?.nonNegativeInteger == nil, "2^53: no longer exact")
    #expect(JSONValue.parse("1e300")?.integer == nil, "too large for Int: nil, not a trap")
  }

  @Test func invalidTextIsNil() {
    let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    for text in [
      "", "{", "{\"a\": }", "nul", "{\"a\": 1} x", "[1 2]", "[1,]", "{\"a\": 1,}", "{\"a\": 1, \"a\": 2}",
      "01",
      "1.", ".5", "-", "1e", "1e999", "\"\\ud800\"", "\"\\udc00\"", "\"a\nb\"", "\"\\x\"", "NaN", "Infinity",
      deep,
    ] {
      #expect(JSONValue.parse(text) == nil, "\(text)")
    }
  }

  @Test func stringsNumbersAndNestingWithinTheLimit() throws {
    #expect(JSONValue.parse(#""\u00e9\ud83d\ude00\t\"\\/""#) == .string("é😀\t\"\\/"))
    #expect(JSONValue.parse("\"é\"") == .string("é"))
    #expect(JSONValue.parse("-0.5e-3") == .number(-0.0005))
    #expect(JSONValue.parse(" [ ] ") == .array([]) && JSONValue.parse("{ }") == .object([:]))
    let nested = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    #expect(JSONValue.parse(nested) != nil)
    // Invalid UTF-8 inside a string is refused, not replaced.
    #expect(JSONValue.parse([0x22, 0xFF, 0x22]) == nil)
  }

  @Test func encodingRoundTripsWithSortedKeysAndWholeNumbers() throws {
    let value = JSONValue.object([
      "b": .number(617), "a": .array([.number(0.25), .bool(false), .null, .string("q\"uote")]),
    ])
    let text = String(decoding: value.encoded(), as: UTF8.self)
    #expect(JSONValue.parse(text) == value)
    #expect(text.contains("617") && !text.contains("617.0"), "\(text)")
    let a = try #require(text.firstRange(of: "\"a\""))
    let b = try #require(text.firstRange(of: "\"b\""))
    #expect(a.lowerBound < b.lowerBound, "keys sorted")
  }
}
