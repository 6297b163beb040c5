// swift-tools-version: 6.1
import PackageDescription

// libFuzzer harnesses for every parser that reads untrusted bytes, built against StreamRNN's own
// libraries: `make fuzz` (or `Tests/Fuzz/run.sh`). Not part of the product: a package of its
// own, so that `swift build` of StreamRNN never builds it.
let harnesses = [
  "FuzzNpy", "FuzzSafeTensors", "FuzzMetadata", "FuzzJSON", "FuzzAudio", "FuzzWire", "FuzzReport",
]

let package = Package(
  name: "StreamRNNFuzz",
  dependencies: [.package(name: "StreamRNN", path: "../..")],
  targets: harnesses.map { name in
    .executableTarget(
      name: name,
      dependencies: [
        .product(name: "ModelIO", package: "StreamRNN"), .product(name: "Features", package: "StreamRNN"),
        .product(name: "AudioFile", package: "StreamRNN"), .product(name: "Recurrent", package: "StreamRNN"),
        .product(name: "Layers", package: "StreamRNN"), .product(name: "WireProtocol", package: "StreamRNN"),
        .product(name: "Report", package: "StreamRNN"), .product(name: "Pipeline", package: "StreamRNN"),
      ],
      swiftSettings: [.unsafeFlags(["-parse-as-library"])])
  }
)
