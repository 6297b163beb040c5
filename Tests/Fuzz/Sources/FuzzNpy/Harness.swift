import ModelIO

/// libFuzzer entry point: any bytes as a `.npy` file. Errors are expected; a trap, an abort or a
/// sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let array = try? NpyArray(bytes: bytes, path: "fuzz.npy") {
    // A parsed array must round-trip.
    let again = try? NpyArray(bytes: array.encoded(), path: "again.npy")
    precondition(
      again?.shape == array.shape && again?.values.map(\.bitPattern) == array.values.map(\.bitPattern))
  }
  return 0
}
