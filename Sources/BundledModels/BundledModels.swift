import AudioFile
import CBundledModels
import Features
import ModelIO
import Recurrent

/// A model with the features it was trained on, ready for a stream.
public struct BundledModel: Sendable {
  /// The weights (immutable, shared by every stream).
  public let model: RecurrentModel
  /// The features (or learned frontend) the model takes.
  public let features: FeatureConfiguration
  /// The name used in messages.
  public let name: String
}

/// The models embedded in the library and the `streamrnn` binary: no file path needed.
public enum BundledModels {
  /// Silero VAD v6, 16 kHz (MIT licence): a learned STFT + convolution frontend, an LSTM and a
  /// sigmoid speech output labelled `speech`, one frame per 32 ms chunk. Converted from the
  /// official TorchScript weights by `Scripts/convert_silero.py`; equal to the official model within
  /// 1e-4 per chunk (tested).
  ///
  /// Each call parses the embedded file (about 1.2 MB) and packs the weights: load once and share
  /// the result between streams. Not for the real-time path.
  /// - Parameters:
  ///   - kind: Overrides the file's cell kind (for experiments; nil keeps LSTM).
  ///   - weightStorage: float32 (default, exact) or float16 weights.
  public static func sileroVAD(kind: RecurrentKind? = nil, weightStorage: WeightStorage = .float32)
    throws(ModelFileError) -> BundledModel
  {
    let name = "bundled Silero VAD"
    let bytes = Array(
      UnsafeBufferPointer(start: streamrnn_silero_vad_16k_bytes(), count: streamrnn_silero_vad_16k_count()))
    let loaded = try ModelLoader.loadWithFeatures(
      file: SafeTensorsFile(bytes: bytes, path: name), path: name, kind: kind, weightStorage: weightStorage)
    guard let features = loaded.features else {
      throw ModelFileError(path: name, reason: "carries no features metadata")
    }
    return BundledModel(model: loaded.model, features: features, name: name)
  }

  /// A bundled recording: 9 s of speech with pauses, 16 kHz mono (a copy of
  /// `Examples/demo/speech_with_pauses.wav`), decoded to floats in [-1, 1), resampled to
  /// `sampleRate`. The multi-stream benchmark replays it.
  public static func demoSpeech(sampleRate: Int = 16000) throws(AudioFileError) -> [Float] {
    let bytes = Array(
      UnsafeBufferPointer(start: streamrnn_demo_speech_bytes(), count: streamrnn_demo_speech_count()))
    let reader = try AudioFileReader(bytes: bytes, name: "bundled demo speech")
    do {
      return try MonoAudioStream(reader: reader, outputRate: sampleRate).readAll()
    } catch let error as AudioFileError {
      throw error
    } catch {
      throw AudioFileError(path: "bundled demo speech", reason: "\(error)")
    }
  }
}
