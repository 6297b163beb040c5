import ModelIO

/// libFuzzer entry point: any bytes as JSON (model headers and metadata values). A value that
/// parses must encode and parse back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  if let value = JSONValue.parse(UnsafeBufferPointer(start: data, count: size)) {
    precondition(JSONValue.parse(value.encoded()) == value, "round trip")
  }
  return 0
}
