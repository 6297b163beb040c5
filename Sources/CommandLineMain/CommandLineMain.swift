import ArgumentParser

#if canImport(Glibc)
  import Glibc
#endif

/// Parses the command line as `root` and runs the command, the way every StreamRNN executable
/// reports: help and `--version` go to standard output with exit 0; every error is one line on
/// standard error (`streamrnn: …`, control characters replaced, at most 400 characters) with a
/// non-zero exit below 128. `prepare` runs after parsing and before the command (and may refuse).
public func runCommandLine(
  _ root: any ParsableCommand.Type, prepare: (any ParsableCommand) throws -> Void = { _ in }
) -> Never {
  do {
    var command = try root.parseAsRoot()
    try prepare(command)
    try command.run()
    exit(0)
  } catch {
    let code = root.exitCode(for: error)
    if code == .success {
      print(root.fullMessage(for: error))
      exit(0)
    }
    var line = "streamrnn: \(oneLine(root.message(for: error)))\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(code.rawValue > 0 && code.rawValue < 128 ? code.rawValue : 1)
  }
}

/// `text` as one printable line of at most `limit` characters: control characters become spaces,
/// runs of spaces fold, and a longer text is cut with "…".
public func oneLine(_ text: String, limit: Int = 400) -> String {
  var result = ""
  var lastWasSpace = false
  for scalar in text.unicodeScalars {
    let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    let isSpace = isControl || scalar == " "
    if isSpace && (lastWasSpace || result.isEmpty) { continue }
    result.unicodeScalars.append(isSpace ? " " : scalar)
    lastWasSpace = isSpace
  }
  while result.last == " " { result.removeLast() }
  guard result.count > limit else { return result }
  return String(result.prefix(limit - 1)) + "…"
}
