import Engine
import NIOCore
import NIOWebSocket
import Prometheus
import StreamCore
import Synchronization
import WireProtocol

/// A connection's audio, pushed to its engine session on the event loop that read it.
///
/// Sits in the WebSocket pipeline just after the frame decoder. While *armed*, a whole binary
/// message in one frame (at most ``largestMessage`` bytes, a whole number of samples, finite) is
/// unmasked, decoded and pushed here, and goes no further: no hop through the WebSocket layer's
/// async sequence, the connection's reader task and its main loop (two task resumptions and a
/// thread wake-up per message otherwise). Everything else — text, fragments, control frames,
/// larger messages, audio the session's queue has no room for, or any frame while not armed —
/// takes the usual way, and disarms the fast path, so that it cannot overtake a message the
/// connection has not handled yet.
///
/// Arming keeps the order of the client's messages: the connection asks for it (``requestArming``)
/// when its session is open and streaming; the fast path then sends a marker message (a text
/// message with a random per-connection nonce, which a client cannot guess) the usual way, after
/// everything it forwarded before; when the connection's main loop reaches the marker, everything
/// before it has been handled, and ``arm(epoch:target:)`` arms — unless more messages were
/// forwarded after the marker, in which case a new marker goes after them.
/// ``disarm()`` (the connection finishing or refusing) returns once the event loop has run it:
/// after it, nothing more is pushed here.
///
/// Thread: handler methods on the channel's event loop; `requestArming`, `arm` and `disarm` from
/// any thread (they run on the loop). The decode buffer is allocated once per connection.
final class AudioFastPath: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
  typealias InboundIn = WebSocketFrame
  typealias InboundOut = WebSocketFrame

  /// The largest message taken here, bytes: 8 KiB (the decode buffer), or `--max-message-bytes`
  /// when smaller (larger ones take the usual way, which refuses them).
  let largestMessage: Int

  /// Where armed audio goes.
  struct Target {
    let engine: StreamEngine
    let handle: SessionHandle
    let encoding: SampleEncoding
  }

  private let eventLoop: any EventLoop
  private let nonce: String
  /// Loop only.
  private var context: ChannelHandlerContext?
  private var target: Target?
  private var epoch = 0
  private var markerOutstanding = false
  /// Messages sent the usual way after the outstanding marker.
  private var forwardedSinceMarker = 0
  private let samples: UnsafeMutableBufferPointer<Float>
  /// Messages pushed here, and the samples in them (read by the connection, any thread).
  let messages = Atomic<Int>(0)
  let receivedSamples = Atomic<Int>(0)
  /// Monotonic ns of the last message pushed here.
  let lastReceived = Atomic<UInt64>(0)

  private let counter: Counter

  /// A fast path for a connection on `eventLoop`, for messages of at most 8 KiB and
  /// `maxMessageBytes`; `counter` counts the messages it pushes.
  init(eventLoop: any EventLoop, maxMessageBytes: Int, counter: Counter) {
    self.eventLoop = eventLoop
    largestMessage = min(8192, maxMessageBytes)
    samples = .allocate(capacity: 8192 / 2)
    self.counter = counter
    var generator = SystemRandomNumberGenerator()
    nonce = String(generator.next() as UInt64, radix: 36) + String(generator.next() as UInt64, radix: 36)
  }

  deinit { samples.deallocate() }

  /// The text of the marker for `epoch`.
  private func marker(_ epoch: Int) -> String { "\u{1}streamrnn-arm \(nonce) \(epoch)" }

  /// The epoch a marker text carries, or nil when `text` is not this connection's marker.
  func markerEpoch(_ text: String) -> Int? {
    let prefix = "\u{1}streamrnn-arm \(nonce) "
    guard text.hasPrefix(prefix) else { return nil }
    return Int(text.dropFirst(prefix.count))
  }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }
  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    if let target, frame.fin, frame.opcode == .binary, !frame.rsv1, !frame.rsv2, !frame.rsv3,
      take(frame, target)
    {
      return
    }
    // The connection must handle this before the fast path may take more.
    target = nil
    if markerOutstanding { forwardedSinceMarker += 1 }
    context.fireChannelRead(data)
  }

  /// Decodes and pushes `frame`; false (nothing pushed) when it must take the usual way.
  private func take(_ frame: WebSocketFrame, _ target: Target) -> Bool {
    let width = target.encoding.bytesPerSample
    let bytes = frame.data.readableBytes
    guard bytes > 0, bytes <= largestMessage, bytes % width == 0 else { return false }
    let count = bytes / width
    // The client's masking key, first byte lowest (clients must mask; an unmasked frame is taken
    // as it is).
    let key =
      frame.maskKey.map { UInt32($0[0]) | UInt32($0[1]) << 8 | UInt32($0[2]) << 16 | UInt32($0[3]) << 24 }
      ?? 0
    let finite = frame.data.withUnsafeReadableBytes { raw in
      decodePCM(raw, target.encoding, maskKey: key, into: samples)
    }
    guard finite,
      (try? target.engine.tryPush(target.handle, UnsafeBufferPointer(rebasing: samples[0..<count])))
        == .pushed
    else { return false }
    messages.add(1, ordering: .relaxed)
    counter.increment()
    receivedSamples.add(count, ordering: .relaxed)
    lastReceived.store(monotonicNow(), ordering: .relaxed)
    return true
  }

  /// Sends a marker the usual way (unless one is on its way or the path is armed already).
  func requestArming() {
    eventLoop.execute { [self] in
      if target == nil, !markerOutstanding { sendMarker() }
    }
  }

  /// The connection reached the marker of `epoch` and its session streams to `target`: arms if
  /// nothing was sent the usual way after that marker, else sends a new marker after those
  /// messages.
  func arm(epoch marked: Int, target: Target) {
    eventLoop.execute { [self] in
      guard markerOutstanding, marked == epoch else { return }
      if forwardedSinceMarker == 0 {
        markerOutstanding = false
        self.target = target
      } else {
        sendMarker()
      }
    }
  }

  /// A new marker behind everything forwarded so far. Loop only.
  private func sendMarker() {
    guard let context else { return }
    epoch &+= 1
    forwardedSinceMarker = 0
    markerOutstanding = true
    var buffer = context.channel.allocator.buffer(capacity: 64)
    buffer.writeString(marker(epoch))
    context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
    // (The async channel behind hands reads on at the end of a read cycle: end this one.)
    context.fireChannelReadComplete()
  }

  /// Stops taking audio; returns once the event loop has run it.
  func disarm() async {
    try? await eventLoop.submit { [self] in
      target = nil
      epoch &+= 1
      markerOutstanding = false
    }.get()
  }
}

/// Little-endian samples → floats in [-1, 1) (`pcm_s16le`) or as sent (`pcm_f32le`), each byte
/// first XORed with the WebSocket masking key (`maskKey`, its first byte lowest; 0: unmasked).
/// `output` holds at least `raw.count / bytesPerSample` values. False when an f32 sample is not
/// finite. Does not allocate.
///
/// Works a 32-bit word at a time (the key repeats every four bytes from the payload's start, so a
/// word at a multiple of four unmasks with one XOR): two s16 samples or one f32 per word; the
/// compiler vectorises the loops. An s16 message of an odd sample count ends with one sample done
/// byte-wise.
func decodePCM(
  _ raw: UnsafeRawBufferPointer, _ encoding: SampleEncoding, maskKey: UInt32,
  into output: UnsafeMutableBufferPointer<Float>
) -> Bool {
  let words = raw.count / 4
  switch encoding {
  case .pcmS16LE:
    for index in 0..<words {
      let word =
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 &* index, as: UInt32.self)) ^ maskKey
      output[2 &* index] = Float(Int16(truncatingIfNeeded: word)) / 32768
      output[2 &* index &+ 1] = Float(Int16(truncatingIfNeeded: word >> 16)) / 32768
    }
    if raw.count / 2 > 2 &* words {
      // The last sample: bytes 4·words and 4·words+1 take key bytes 0 and 1.
      let low = UInt16(raw[4 &* words]) | UInt16(raw[4 &* words &+ 1]) << 8
      output[2 &* words] = Float(Int16(bitPattern: low ^ UInt16(truncatingIfNeeded: maskKey))) / 32768
    }
    return true
  case .pcmF32LE:
    var finite = true
    for index in 0..<words {
      let word =
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 &* index, as: UInt32.self)) ^ maskKey
      let value = Float(bitPattern: word)
      finite = finite && value.isFinite
      output[index] = value
    }
    return finite
  }
}
