import AudioFile

#if canImport(Glibc)
  import Glibc
#endif

/// One scratch file for every input (libsndfile opens a regular file by path), in /dev/shm when
/// it exists (memory, not disk).
let path = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/streamrnn-fuzz-audio-\(getpid()).bin"
let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)

/// libFuzzer entry point: any bytes as an audio file (WAV, FLAC, AIFF, … whatever libsndfile
/// recognises), decoded to mono and resampled to 16 kHz as `replay` does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard descriptor >= 0, ftruncate(descriptor, 0) == 0, pwrite(descriptor, data, size, 0) == size else {
    return 0
  }
  guard let stream = try? MonoAudioStream(path: path, outputRate: 16000) else { return 0 }
  var samples = 0
  _ = try? stream.forEachBlock { samples += $0.count }
  return 0
}
