// swift-tools-version: 6.1
import PackageDescription

// Dependencies point inward: `Recurrent` (the math) depends on nothing; `ModelIO` reads files into
// it; the CLI wires them together. `AllocationCounter` counts mallocs for the real-time tests.
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
    .executable(name: "streamrnn", targets: ["streamrnn"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
  ],
  targets: [
    // Single-step PyTorch-exact GRU/LSTM/RNN stacks. No dependencies beyond its own kernels (not
    // even Foundation).
    .target(name: "Recurrent", dependencies: recurrentKernels),
    // The step's inner loops: one source (RecurrentKernelSource/Kernels.swift, linked into each)
    // compiled per instruction set, picked at run time with CPUFeatures.
    .target(name: "RecurrentKernelsPortable"),
    .target(name: "CPUFeatures"),
    // safetensors model files and .npy arrays → `Recurrent` values; one-line errors.
    .target(name: "ModelIO", dependencies: ["Recurrent", "Features"]),
    // C libraries, each wrapped by one Swift file that makes all of its calls.
    .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
    .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
    .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
    .systemLibrary(name: "CKissFFT", pkgConfig: "kissfft-float", providers: [.apt(["libkissfft-dev"])]),
    // Streaming log-mel and Kaldi fbank frames, equal to torchaudio's, and learned frontends (on the
    // recurrent step's packed SIMD kernels). No audio I/O.
    .target(name: "Features", dependencies: ["CKissFFT", "Recurrent"]),
    // Audio files (libsndfile) and resampling (libsoxr) into mono float32 streams.
    .target(name: "AudioFile", dependencies: ["CSndFile", "CSoxr"]),
    // The stream's core: the lock-free frame ring and what travels in it. No dependencies.
    .target(name: "StreamCore"),
    // The stream: sources (replay, capture) → features → ring → stateful step → sinks, with
    // latency statistics.
    .target(
      name: "Pipeline",
      dependencies: [
        "StreamCore", "Features", "Recurrent", "AudioFile", "ModelIO",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ]),
    // ALSA capture: a device as a source of sample blocks for the stream.
    .target(name: "ALSACapture", dependencies: ["CALSA", "Pipeline", "AudioFile"]),
    // Per-thread malloc counting by interposing malloc & co. in the linking executable.
    .target(name: "AllocationCounter"),
    // The default model of replay and capture, Silero VAD (see Scripts/convert_silero.py), embedded
    // in the binary (BundledModels.S); its licence sits beside it.
    .target(
      name: "BundledModels", exclude: ["silero_vad_16k.safetensors", "silero_vad_LICENSE"],
      cSettings: [.headerSearchPath(".")]),
    // The subcommands, as a library so tests can reach their helpers.
    .target(
      name: "StreamRNNCommands",
      dependencies: [
        "Recurrent", "ModelIO", "Features", "AudioFile", "AllocationCounter", "Pipeline", "ALSACapture",
        "BundledModels", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .executableTarget(name: "streamrnn", dependencies: ["StreamRNNCommands"]),
    .executableTarget(
      name: "StepExample", dependencies: ["Recurrent", "ModelIO"], path: "Examples/StepExample"),
    .executableTarget(
      name: "VADExample", dependencies: ["Recurrent", "ModelIO", "Features", "AudioFile", "Pipeline"],
      path: "Examples/VADExample"),
    .testTarget(name: "RecurrentTests", dependencies: ["Recurrent", "ModelIO", "AllocationCounter"]),
    .testTarget(name: "ModelIOTests", dependencies: ["ModelIO", "Recurrent"]),
    .testTarget(
      name: "FeaturesTests",
      dependencies: ["Features", "AudioFile", "ModelIO", "AllocationCounter", "StreamRNNCommands"]),
    .testTarget(name: "StreamCoreTests", dependencies: ["StreamCore", "AllocationCounter"]),
    .testTarget(
      name: "PipelineTests",
      dependencies: [
        "Pipeline", "StreamCore", "Features", "AudioFile", "ModelIO", "Recurrent", "AllocationCounter",
      ]),
    .testTarget(
      name: "ALSACaptureTests",
      dependencies: [
        "ALSACapture", "Pipeline", "AudioFile", "Features", "ModelIO", "Recurrent", "AllocationCounter",
      ]),
    .testTarget(name: "CLITests", dependencies: ["streamrnn", "ModelIO"]),
  ] + simdKernels
)
