import Foundation
import HummingbirdWSClient
import NIOCore
import NIOWebSocket
import Server
import Testing

/// A WebSocket client over a plain blocking socket that sends and never reads: the receive buffer
/// is made as small as the kernel allows, so the server's writes stall after a few KiB.
final class NeverReadingClient {
  let descriptor: Int32

  init(port: Int) throws {
    descriptor = try connectLoopback(port, receiveBuffer: 1024)
    let request =
      "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    try sendAll(Array(request.utf8))
    // The 101 response, read byte by byte up to its blank line (nothing else is read, ever).
    var header: [UInt8] = []
    var byte: UInt8 = 0
    while !header.suffix(4).elementsEqual([13, 10, 13, 10]) {
      guard recv(descriptor, &byte, 1, 0) == 1 else { throw POSIXError(.ECONNRESET) }
      header.append(byte)
    }
    guard String(decoding: header, as: UTF8.self).hasPrefix("HTTP/1.1 101") else { throw POSIXError(.EPROTO) }
  }

  deinit { close(descriptor) }

  /// One masked frame (`opcode` 1 text, 2 binary). False once the socket no longer takes bytes.
  @discardableResult
  func send(opcode: UInt8, _ payload: [UInt8]) -> Bool {
    var frame: [UInt8] = [0x80 | opcode]
    if payload.count < 126 {
      frame.append(0x80 | UInt8(payload.count))
    } else if payload.count < 65_536 {
      frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    } else {
      frame.append(0x80 | 127)
      for shift in stride(from: 56, through: 0, by: -8) {
        frame.append(UInt8((payload.count >> shift) & 0xFF))
      }
    }
    let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
    frame += mask
    frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    return (try? sendAll(frame)) != nil
  }

  private func sendAll(_ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
      let count = bytes[sent...].withUnsafeBytes {
        Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      guard count > 0 else { throw POSIXError(.EPIPE) }
      sent += count
    }
  }
}

@Suite("streamrnn serve: a client that never reads", .serialized, .timeLimit(.minutes(2)))
struct SlowReaderTests {
  /// The server's writes to a client that never reads stall; its outbound queue (16 messages here)
  /// fills, and that session alone is closed and counted, while another session runs to its end.
  @Test func aClientThatNeverReadsIsCutOffAndOthersGoOn() async throws {
    let running = try await RunningServer.start { $0.outboundMessages = 16 }
    let bytes = try pcmBytes(demoSpeech)
    let release = DispatchSemaphore(value: 0)
    defer { release.signal() }
    // Four minutes of audio as frames: hundreds of frames messages the client will not read.
    let stuck = Thread {
      guard let client = try? NeverReadingClient(port: running.port) else { return }
      client.send(opcode: 1, Array(#"{"type": "config", "outputs": "frames"}"#.utf8))
      var sentSeconds = 0.0
      while sentSeconds < 240, client.send(opcode: 2, bytes) {
        sentSeconds += Double(bytes.count) / 32_000
      }
      // Hold the connection open, unread, until the test has seen the verdict: closing it first
      // would end the session as a lost connection, not as a slow reader.
      _ = release.wait(timeout: .now() + 90)
      _ = client
    }
    stuck.start()
    try await Task.sleep(for: .milliseconds(200))
    let transcript = try await converse(running.url) { outbound in
      try await outbound.write(.text(#"{"type": "config", "outputs": "events"}"#))
      try await sendInPieces(bytes, outbound, seed: 3)
      try await outbound.write(.text(#"{"type": "eof"}"#))
    }
    #expect(transcript.closeCode == .normalClosure)
    let stats = try #require(transcript.of(type: "stats").first)
    #expect(stats["frames"] as? Int == (bytes.count / 2 + 511) / 512, "every chunk, the last one padded")
    // The stuck session is cut off as a slow reader, and counted. The server cuts a writer stuck for 5 s, or a queue over its limit, whichever comes first;
    // on a loaded machine either can take a while.
    var counted = false
    let deadline = Date().addingTimeInterval(60)
    while !counted, Date() < deadline {
      // A request a loaded machine does not answer in time is simply asked again.
      let (status, metrics) = await httpOffPool(running.port, "/metrics")
      counted =
        status == 200
        && metrics.split(separator: "\n").contains {
          $0.hasPrefix("streamrnn_rejected_connections_total") && $0.contains("slow_reader")
            && !$0.hasSuffix(" 0")
        }
      if !counted { try await Task.sleep(for: .milliseconds(100)) }
    }
    #expect(counted, "a slow_reader rejection in /metrics")
    await running.stop()
  }
}
