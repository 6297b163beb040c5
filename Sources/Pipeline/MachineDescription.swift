#if canImport(Glibc)
  import Glibc
#endif

/// The machine, in words: CPU model, family and model numbers, cores (from `/proc/cpuinfo`), as
/// reports and `streamrnn bench` name it. Reads a file: not for the real-time path.
public func machineDescription() -> String {
  var fields: [String: String] = [:]
  if let file = fopen("/proc/cpuinfo", "r") {
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 4096)
    while fields.count < 3, fgets(&buffer, Int32(buffer.count), file) != nil {
      let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingCharacters()
      if ["model name", "cpu family", "model"].contains(key), fields[key] == nil {
        fields[key] = parts[1].trimmingCharacters()
      }
    }
  }
  let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
  let family = [fields["cpu family"].map { "family \($0)" }, fields["model"].map { "model \($0)" }]
    .compactMap { $0 }.joined(separator: " ")
  return "\(fields["model name"] ?? "unknown CPU")\(family.isEmpty ? "" : " (CPU \(family))"), \(cores) cores"
}

extension Substring {
  fileprivate func trimmingCharacters() -> String {
    String(
      drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\n" }.reversed())
  }
}
