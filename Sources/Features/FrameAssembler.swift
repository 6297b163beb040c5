/// Cuts a stream of samples into frames of `frameLength` samples every `hop` samples, whatever the
/// sizes of the blocks pushed. Frame `t` holds samples `t·hop ..< t·hop + frameLength`; a partial
/// frame at the end of the stream is never emitted. Storage is allocated once in `init`.
final class FrameAssembler {
  let frameLength: Int
  let hop: Int
  /// `[frameLength]`: the frame being filled; its first `filled` samples are valid.
  private let buffer: UnsafeMutablePointer<Float>
  private var filled = 0
  /// Samples still to drop before the next frame starts (only when `hop > frameLength`).
  private var skip = 0

  init(frameLength: Int, hop: Int) {
    precondition(frameLength > 0 && hop > 0)
    self.frameLength = frameLength
    self.hop = hop
    buffer = .allocate(capacity: frameLength)
    buffer.initialize(repeating: 0, count: frameLength)
  }

  deinit { buffer.deallocate() }

  /// Appends samples; calls `onFrame` with each completed frame. Does not allocate or lock.
  @inline(__always)
  func push(_ samples: UnsafePointer<Float>, count: Int, onFrame: (UnsafePointer<Float>) -> Void) {
    var index = 0
    while index < count {
      if skip > 0 {
        let dropped = min(skip, count - index)
        skip -= dropped
        index += dropped
        continue
      }
      let taken = min(frameLength - filled, count - index)
      (buffer + filled).update(from: samples + index, count: taken)
      filled += taken
      index += taken
      if filled == frameLength {
        onFrame(buffer)
        if hop < frameLength {
          // Keep the overlap for the next frame.
          buffer.update(from: buffer + hop, count: frameLength - hop)
          filled = frameLength - hop
        } else {
          filled = 0
          skip = hop - frameLength
        }
      }
    }
  }

  /// Forgets buffered samples, for a new stream.
  func reset() {
    filled = 0
    skip = 0
  }
}
