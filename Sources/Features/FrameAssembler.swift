/// Cuts a stream of samples into frames of `frameLength` samples every `hop` samples, whatever the
/// sizes of the blocks pushed. Frame `t` holds samples `t·hop ..< t·hop + frameLength`; a partial
/// frame at the end of the stream is never emitted. Storage is allocated once in `init`.
///
/// Overlapping frames sit in a buffer of two frames: a frame's start moves on by a hop after each
/// frame, and the kept overlap moves back to the front only when the buffer's end is reached (once
/// every `frameLength / hop` frames or so, not once per frame). New samples never land on the frame
/// emitted last, nor does that move (its destination ends before the frame begins), so the frame
/// `onFrame` is told is the push's last stays readable after the push returns, until the next push
/// (a multi-stream engine transforms it later, with other sessions' frames).
final class FrameAssembler {
  let frameLength: Int
  let hop: Int
  /// `[capacity]`: samples `start ..< start + filled` are the frame being filled.
  private let buffer: UnsafeMutablePointer<Float>
  private let capacity: Int
  private var start = 0
  private var filled = 0
  /// Samples still to drop before the next frame starts (only when `hop > frameLength`).
  private var skip = 0

  init(frameLength: Int, hop: Int) {
    precondition(frameLength > 0 && hop > 0)
    self.frameLength = frameLength
    self.hop = hop
    capacity = hop < frameLength ? 2 * frameLength : frameLength
    buffer = .allocate(capacity: capacity)
    buffer.initialize(repeating: 0, count: capacity)
  }

  deinit { buffer.deallocate() }

  /// Feeds `count` samples; `onFrame` gets each completed frame (`frameLength` samples) and whether
  /// it is the last this push completes. Does not allocate or lock.
  @inline(__always)
  func push(_ samples: UnsafePointer<Float>, count: Int, onFrame: (UnsafePointer<Float>, Bool) -> Void) {
    var index = 0
    while index < count {
      if skip > 0 {
        let dropped = min(skip, count - index)
        skip -= dropped
        index += dropped
        continue
      }
      if start + frameLength > capacity {
        // The kept overlap back to the front.
        buffer.update(from: buffer + start, count: filled)
        start = 0
      }
      let taken = min(frameLength - filled, count - index)
      (buffer + start + filled).update(from: samples + index, count: taken)
      filled += taken
      index += taken
      if filled == frameLength {
        let frame = buffer + start
        if hop < frameLength {
          start += hop
          filled = frameLength - hop
        } else {
          start = 0
          filled = 0
          skip = hop - frameLength
        }
        // The last of this push: no other frame completes in it, and (frames that do not overlap are
        // written where the last one was) nothing more is written.
        let rest = count - index
        let last = hop < frameLength ? rest < frameLength - filled : rest <= skip
        onFrame(frame, last)
      }
    }
  }

  /// Forgets the samples held (the stream starts again).
  func reset() {
    start = 0
    filled = 0
    skip = 0
  }
}
