// swift-tools-version: 6.1
import PackageDescription

// Dependencies point inward: `Recurrent` (the math) and `StreamCore` (the stream's vocabulary)
// depend on nothing; `ModelIO` reads files into `Recurrent`; `Features` makes frames; sources
// (`Replay`, `ALSACapture`) know only `StreamCore` and audio; `Pipeline` runs a stream; the CLI is a
// thin shell. `AllocationCounter` (malloc interposition) is linked only into tests and
// `streamrnn-bench`, never into `streamrnn`.
// x86-64 gets AVX2 and AVX-512 builds of the kernels besides the portable one. `unsafeFlags` are
// accepted in a root package; depend on StreamRNN by path or branch (not by version) to use it.
#if arch(x86_64)
  let simdKernels: [Target] = [
    .target(
      name: "RecurrentKernelsAVX512",
      swiftSettings: [
        .unsafeFlags(["-target-cpu", "skylake-avx512"]), .define("KERNEL_AVX512"), .define("KERNEL_FMA"),
      ]),
    .target(
      name: "RecurrentKernelsAVX2",
      swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"]), .define("KERNEL_FMA")]),
  ]
  let recurrentKernels: [Target.Dependency] = [
    "RecurrentKernelsPortable", "CPUFeatures", "RecurrentKernelsAVX2", "RecurrentKernelsAVX512",
  ]
#else
  let simdKernels: [Target] = []
  let recurrentKernels: [Target.Dependency] = ["RecurrentKernelsPortable", "CPUFeatures"]
#endif

let package = Package(
  name: "StreamRNN",
  products: [
    .library(name: "Recurrent", targets: ["Recurrent"]),
    .library(name: "ModelIO", targets: ["ModelIO"]),
    .library(name: "Features", targets: ["Features"]),
    .library(name: "AudioFile", targets: ["AudioFile"]),
    .library(name: "StreamCore", targets: ["StreamCore"]),
    .library(name: "Layers", targets: ["Layers"]),
    .library(name: "Pipeline", targets: ["Pipeline"]),
    .library(name: "Engine", targets: ["Engine"]),
    .library(name: "Replay", targets: ["Replay"]),
    .library(name: "ALSACapture", targets: ["ALSACapture"]),
    .library(name: "BundledModels", targets: ["BundledModels"]),
    .library(name: "WireProtocol", targets: ["WireProtocol"]),
    .library(name: "Report", targets: ["Report"]),
    .library(name: "Server", targets: ["Server"]),
    .executable(name: "streamrnn", targets: ["streamrnn"]),
    .executable(name: "streamrnn-bench", targets: ["streamrnn-bench"]),
    .executable(name: "streamrnn-serve", targets: ["streamrnn-serve"]),
    .executable(name: "streamrnn-loadgen", targets: ["streamrnn-loadgen"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.0.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
  ],
  targets: [
    // Single-step PyTorch-exact GRU/LSTM/RNN stacks. No dependencies beyond its own kernels (not
    // even Foundation).
    .target(name: "Recurrent", dependencies: recurrentKernels),
    // The step's inner loops: one source (RecurrentKernelSource/Kernels.swift, linked into each)
    // compiled per instruction set, picked at run time with CPUFeatures.
    .target(name: "RecurrentKernelsPortable"),
    .target(name: "CPUFeatures"),
    // Models as chains of layers (normalisation, Linear, Conv1d, activations, LayerNorm, stacking,
    // recurrent stacks), streaming one frame at a time on the recurrent step's kernels.
    .target(name: "Layers", dependencies: ["Recurrent"]),
    // safetensors model files and .npy arrays → `Recurrent` values; one-line errors.
    .target(name: "ModelIO", dependencies: ["Recurrent", "Features", "Layers"]),
    // C libraries, each wrapped by one Swift file that makes all of its calls.
    .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
    .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
    .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
    .systemLibrary(name: "CKissFFT", pkgConfig: "kissfft-float", providers: [.apt(["libkissfft-dev"])]),
    // Streaming log-mel and Kaldi fbank frames, equal to torchaudio's, and learned frontends (on the
    // recurrent step's packed SIMD kernels). No audio I/O.
    .target(name: "Features", dependencies: ["CKissFFT", "Recurrent", "StreamCore"]),
    // Audio files (libsndfile) and resampling (libsoxr) into mono float32 streams.
    .target(name: "AudioFile", dependencies: ["CSndFile", "CSoxr"]),
    // The stream's vocabulary: the lock-free frame ring, FrameSource, FrameProducer, the feature
    // extractor protocol, sinks, events, stream control and counters, the monotonic clock,
    // StreamError. No dependencies.
    .target(name: "StreamCore"),
    // A replayed audio file as a FrameSource.
    .target(name: "Replay", dependencies: ["StreamCore", "AudioFile"]),
    // ALSA capture: a device as a FrameSource.
    .target(name: "ALSACapture", dependencies: ["CALSA", "StreamCore", "AudioFile"]),
    // The stream runner: any source → features → ring → stateful step → observers → sink, with
    // latency statistics; the record sinks; segment, reset and progress observers.
    .target(
      name: "Pipeline",
      dependencies: [
        "StreamCore", "Features", "Recurrent", "Layers", "ModelIO",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ]),
    // Pictures of a run: one self-contained HTML page (inline SVG) with the waveform, features,
    // outputs, segments/events and latency histograms, from a live run or saved outputs.
    .target(name: "Report", dependencies: ["StreamCore", "Features", "Pipeline", "ModelIO"]),
    // Many sessions through one model: worker threads, per-session queues, a delivery thread.
    .target(name: "Engine", dependencies: ["StreamCore", "Features", "Layers", "Pipeline"]),
    // The WebSocket protocol's messages: client messages parsed and checked, server messages
    // written. No network code (fuzzed on its own).
    .target(name: "WireProtocol", dependencies: ["ModelIO", "Pipeline", "StreamCore"]),
    // `streamrnn serve`: the engine behind WebSocket sessions (Hummingbird), with health, readiness,
    // Prometheus metrics, structured logs and a graceful drain (swift-service-lifecycle).
    .target(
      name: "Server",
      dependencies: [
        "WireProtocol", "Engine", "Pipeline", "StreamCore", "Features", "Layers", "AudioFile", "ModelIO",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
      ]),
    // Per-thread malloc counting by interposing malloc & co. in the linking executable.
    .target(name: "AllocationCounter"),
    // The default model of replay and capture, Silero VAD (see Scripts/convert_silero.py), embedded
    // in the binary (CBundledModels.S); its licence sits beside it. `BundledModels` loads it.
    .target(
      name: "CBundledModels",
      exclude: ["silero_vad_16k.safetensors", "silero_vad_LICENSE", "demo_speech_16k.wav"],
      cSettings: [.headerSearchPath(".")]),
    .target(
      name: "BundledModels",
      dependencies: ["CBundledModels", "ModelIO", "Features", "Recurrent", "AudioFile"]),
    // The subcommands, as a library so tests can reach their helpers.
    .target(
      name: "StreamRNNCommands",
      dependencies: [
        "Recurrent", "Layers", "ModelIO", "Features", "AudioFile", "StreamCore", "Pipeline", "Replay",
        "ALSACapture", "BundledModels", "Engine", "Report", "CommandLineMain",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .executableTarget(name: "streamrnn", dependencies: ["StreamRNNCommands"]),
    // How every executable parses its command line and reports errors (one line).
    .target(
      name: "CommandLineMain",
      dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]),
    // The server (`streamrnn serve` runs it): an executable of its own, so that the server's
    // libraries (and the Foundation they link) stay out of `streamrnn`.
    .executableTarget(
      name: "streamrnn-serve",
      dependencies: [
        "Server", "BundledModels", "ModelIO", "Layers", "Recurrent", "Pipeline", "StreamCore",
        "CommandLineMain",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ]),
    // The load generator for the server (`streamrnn loadgen` runs it): SwiftNIO directly, one
    // event loop for every connection, so that it costs little beside the server it loads.
    .executableTarget(
      name: "streamrnn-loadgen",
      dependencies: [
        "AudioFile", "Pipeline", "StreamCore", "CommandLineMain",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
      ]),
    // The benchmark, with malloc counting (AllocationCounter): an executable of its own.
    .executableTarget(
      name: "streamrnn-bench",
      dependencies: [
        "AllocationCounter", "BundledModels", "Features", "ModelIO", "Layers", "Pipeline", "Recurrent",
        "StreamCore", "Engine",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "StepExample", dependencies: ["Recurrent", "ModelIO"], path: "Examples/StepExample"),
    .executableTarget(
      name: "VADExample", dependencies: ["BundledModels", "Pipeline", "Replay", "StreamCore"],
      path: "Examples/VADExample"),
    // Many sessions of one engine (README, The library).
    .executableTarget(
      name: "EngineExample", dependencies: ["BundledModels", "Engine", "Layers", "Pipeline"],
      path: "Examples/EngineExample"),
    // A long capture with random stalls through the JACK test PCM (README, Reliability).
    .executableTarget(
      name: "ALSASoak", dependencies: ["ALSACapture", "BundledModels", "Pipeline", "StreamCore"],
      path: "Benchmarks/ALSASoak"),
    .executableTarget(
      name: "LiveExample", dependencies: ["ALSACapture", "BundledModels", "Pipeline", "StreamCore"],
      path: "Examples/LiveExample"),
    .testTarget(name: "RecurrentTests", dependencies: ["Recurrent", "ModelIO", "AllocationCounter"]),
    .testTarget(name: "ModelIOTests", dependencies: ["ModelIO", "Recurrent"]),
    .testTarget(
      name: "LayersTests", dependencies: ["Layers", "Recurrent", "ModelIO", "AllocationCounter"]),
    .testTarget(
      name: "FeaturesTests",
      dependencies: [
        "Features", "AudioFile", "ModelIO", "AllocationCounter", "StreamCore", "StreamRNNCommands",
      ]),
    .testTarget(name: "StreamCoreTests", dependencies: ["StreamCore", "AllocationCounter"]),
    .testTarget(
      name: "PipelineTests",
      dependencies: [
        "Pipeline", "Replay", "StreamCore", "Features", "AudioFile", "ModelIO", "Recurrent", "BundledModels",
        "Layers", "Report",
        "AllocationCounter",
      ]),
    .testTarget(
      name: "EngineTests",
      dependencies: [
        "Engine", "Pipeline", "StreamCore", "Features", "AudioFile", "Layers", "BundledModels", "Replay",
        "AllocationCounter", "ModelIO",
      ]),
    .testTarget(
      name: "ALSACaptureTests",
      dependencies: [
        "ALSACapture", "Pipeline", "Replay", "StreamCore", "AudioFile", "Features", "ModelIO", "Recurrent",
        "Report", "AllocationCounter",
      ]),
    .testTarget(
      name: "ServerTests",
      dependencies: [
        "Server", "WireProtocol", "Engine", "Pipeline", "StreamCore", "Features", "AudioFile",
        "BundledModels",
        "Layers", "ModelIO", "Replay",
        .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ]),
    .testTarget(
      name: "ReportTests",
      dependencies: ["Report", "Pipeline", "StreamCore", "Features", "AllocationCounter"]),
    .testTarget(
      name: "CLITests",
      dependencies: [
        "streamrnn", "streamrnn-bench", "streamrnn-serve", "streamrnn-loadgen", "ModelIO", "Recurrent",
        "Pipeline",
      ]),
  ] + simdKernels
)
