import AudioFile

/// libFuzzer entry point: any bytes as an audio file (WAV, FLAC, AIFF, … whatever libsndfile
/// recognises), read from memory through libsndfile's virtual I/O, decoded to mono and resampled
/// to 16 kHz as `replay` does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let reader = try? AudioFileReader(bytes: bytes, name: "fuzz"),
    let stream = try? MonoAudioStream(reader: reader, outputRate: 16000)
  else { return 0 }
  var samples = 0
  _ = try? stream.forEachBlock { samples += $0.count }
  return 0
}
