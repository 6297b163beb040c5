import Features
import Foundation
import ModelIO
import Testing

@Suite("Feature configuration carried in the model file")
struct FeatureMetadataTests {
  func parse(_ text: String) -> Result<FeatureConfiguration, ModelFileError> {
    Result { () throws(ModelFileError) in try FeatureMetadata.parse(text, path: "m.safetensors") }
  }

  @Test func logmelWithTorchaudioNames() throws {
    let parsed = try parse(
      #"{"kind": "logmel", "sample_rate": 8000, "n_fft": 256, "win_length": 200, "hop_length": 80, "n_mels": 32, "f_max": null, "mel_scale": "slaney", "norm": "slaney", "center": true, "int16_scale": true}"#
    ).get()
    guard case .logmel(let c) = parsed else {
      Issue.record("not logmel")
      return
    }
    #expect(c.sampleRate == 8000 && c.nFFT == 256 && c.winLength == 200 && c.hopLength == 80 && c.nMels == 32)
    #expect(c.fMax == nil && c.melScale == .slaney && c.norm == .slaney && c.center && c.inputScale == 32768)
    #expect(parsed.featureCount == 32 && parsed.hopLength == 80 && parsed.sampleRate == 8000)
  }

  @Test func fbankWithKaldiNames() throws {
    let parsed = try parse(
      #"{"kind": "fbank", "num_mel_bins": 80, "frame_length": 20, "frame_shift": 10, "window_type": "hamming", "remove_dc_offset": false, "high_freq": -400}"#
    ).get()
    guard case .fbank(let c) = parsed else {
      Issue.record("not fbank")
      return
    }
    #expect(c.numMelBins == 80 && c.frameLengthMs == 20 && c.windowType == .hamming && !c.removeDCOffset)
    #expect(c.highFrequency == -400 && c.sampleRate == 16000)
  }

  @Test(
    "Bad feature metadata is a one-line error",
    arguments: [
      (#"not json"#, "not a JSON object"),
      (#"{"n_mels": 40}"#, "no 'kind'"),
      (#"{"kind": "mfcc"}"#, "kind 'mfcc' is not logmel or fbank"),
      (#"{"kind": "logmel", "n_mels": "forty"}"#, "'n_mels' has the wrong type"),
      (#"{"kind": "logmel", "center": 1}"#, "'center' has the wrong type"),
      (#"{"kind": "logmel", "window_type": "hann"}"#, "unknown key 'window_type' for logmel"),
      (#"{"kind": "fbank", "num_mel_bins": 2}"#, "num_mel_bins 2 is out of range"),
    ])
  func rejects(text: String, expected: String) {
    switch parse(text) {
    case .success: Issue.record("accepted \(text)")
    case .failure(let error):
      #expect(error.description.hasPrefix("m.safetensors: metadata features: "))
      #expect(error.description.contains(expected), "\(error.description)")
    }
  }

  @Test func theDemoModelCarriesItsFeatures() throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Examples/demo/gru2x64-head2.safetensors").standardized.path
    let loaded = try ModelLoader.loadWithFeatures(path: path)
    #expect(loaded.features == .logmel(LogMelConfiguration()))
    #expect(loaded.model.inputSize == loaded.features?.featureCount)
  }
}
