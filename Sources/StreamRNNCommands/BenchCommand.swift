import ArgumentParser

#if canImport(Glibc)
  import Glibc
#endif

/// `streamrnn bench`: runs the `streamrnn-bench` executable installed beside `streamrnn` with the
/// same arguments. The benchmark counts allocations by interposing `malloc`, which must never be
/// linked into `streamrnn` itself (a user's process keeps its own allocator), so it lives in an
/// executable of its own; this subcommand keeps `streamrnn bench` working as documented.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time one recurrent step (and feature frames) on this machine (runs streamrnn-bench).",
    discussion: "Every argument goes to streamrnn-bench: see `streamrnn-bench --help`.")

  @Argument(parsing: .captureForPassthrough, help: "Arguments for streamrnn-bench.")
  var arguments: [String] = []

  func run() throws {
    try execSibling("streamrnn-bench", arguments)
  }
}

/// Replaces this process with the executable `name` from the folder of the running one
/// (`/proc/self/exe`), passing `arguments`; returns only by throwing when it cannot.
func execSibling(_ name: String, _ arguments: [String]) throws {
  let executable = siblingExecutable(name)
  var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
  execv(executable, &argv)
  let code = errno
  for pointer in argv { free(pointer) }
  throw CommandError(
    description:
      "cannot run \(executable): \(String(cString: strerror(code))) (build it with `swift build`; it ships beside streamrnn)"
  )
}

/// `name` in the folder of the running executable (`/proc/self/exe`).
func siblingExecutable(_ name: String) -> String {
  var buffer = [CChar](repeating: 0, count: 4096)
  let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
  guard length > 0 else { return name }
  let path = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
  return folder + "/" + name
}
