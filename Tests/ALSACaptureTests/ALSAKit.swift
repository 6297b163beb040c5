import Foundation

/// The project's ALSA test kit in Tests/ALSAKit: user-space PCMs (a FIFO-fed `file` plugin and a
/// JACK dummy server) that drive the real libasound code without sound hardware.
enum ALSAKit {
  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardized.path
  static let folder = packageRoot + "/Tests/ALSAKit"
  static let configuration = folder + "/streamrnn-test.conf"
  static let jackServer = "streamrnn-test-\(getpid())"
  /// Where jack-dummy.sh keeps its pid and log.
  static let testDirectory: String = {
    let path = NSTemporaryDirectory() + "streamrnn-alsa-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }()

  static func executable(_ name: String) -> Bool {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
      .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
  }

  /// The kit, python3 and libasound's config are here.
  static let available: Bool =
    FileManager.default.fileExists(atPath: configuration)
    && FileManager.default.fileExists(atPath: "/usr/share/alsa/alsa.conf") && executable("python3")
    && !folder.contains(":") && !folder.contains(" ")

  /// jackd is installed too (for real overruns), and this is not a ThreadSanitizer run: libjack's
  /// own (uninstrumented) client thread ends inside an interceptor and TSan aborts the process.
  static let jackAvailable = available && executable("jackd") && dlsym(nil, "__tsan_init") == nil

  /// Points libasound at the kit's PCMs; must run before the process's first ALSA call.
  static let configured: Bool = {
    setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:\(configuration)", 1)
    setenv("JACK_DEFAULT_SERVER", jackServer, 1)
    setenv("JACK_NO_AUDIO_RESERVATION", "1", 1)
    return true
  }()

  /// The environment a child process needs to see the kit's PCMs.
  static var environment: [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:\(configuration)"
    environment["JACK_DEFAULT_SERVER"] = jackServer
    environment["JACK_NO_AUDIO_RESERVATION"] = "1"
    environment["STREAMRNN_TEST_DIR"] = testDirectory
    return environment
  }

  /// Starts fifo_feeder.py on a fresh FIFO and waits for its "fifo-ready" line; returns the FIFO
  /// path and the process (terminate it when done).
  static func startFeeder(_ wav: String, chunkFrames: Int = 160) throws -> (fifo: String, process: Process) {
    let fifo = NSTemporaryDirectory() + "streamrnn-\(UUID().uuidString).fifo"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", folder + "/fifo_feeder.py", "--fifo", fifo, "--chunk-frames", String(chunkFrames), wav,
    ]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    var text = ""
    let deadline = Date().addingTimeInterval(10)
    while !text.contains("fifo-ready") && Date() < deadline {
      let data = output.fileHandleForReading.availableData
      if data.isEmpty { break }
      text += String(decoding: data, as: UTF8.self)
    }
    guard text.contains("fifo-ready") else {
      process.terminate()
      throw KitError(message: "fifo_feeder.py did not get ready: \(text)")
    }
    return (fifo, process)
  }

  /// Runs the kit's jack-dummy.sh with `command` (start, stop) for this process's server.
  ///
  /// posix_spawn + waitpid, not Foundation's Process: the script leaves jackd running in the
  /// background, and Process.waitUntilExit was seen to wait forever after the script had exited.
  static func jack(_ command: String) -> Int32 {
    let arguments = ["/bin/bash", folder + "/jack-dummy.sh", command]
    let environmentLines = environment.map { "\($0.key)=\($0.value)" }
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let cArguments = arguments.map { strdup($0) } + [nil]
    let cEnvironment = environmentLines.map { strdup($0) } + [nil]
    defer {
      for pointer in cArguments + cEnvironment { free(pointer) }
    }
    guard posix_spawn(&pid, "/bin/bash", &actions, nil, cArguments, cEnvironment) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status >> 8) & 0xFF
  }

  struct KitError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
  }
}
