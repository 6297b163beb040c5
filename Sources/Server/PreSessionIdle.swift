import HummingbirdCore
import Logging
import NIOCore

/// A server child channel that closes a connection after `timeout` without a byte from the client
/// until it becomes a WebSocket session (then ``PreSessionIdleHandler/remove(from:)`` takes the
/// timer away and the session's own idle timeout applies); everything else is `base`'s.
///
/// Hummingbird's HTTP idle timeout starts only once a first request has been read and found not
/// to be an upgrade, so a TCP connection that never sends a request — half-open, or a client that
/// stalls halfway through its handshake — would otherwise hold its socket for ever.
struct IdleUntilUpgrade<Base: ServerChildChannel>: ServerChildChannel {
  typealias Value = Base.Value
  let base: Base
  let timeout: TimeAmount

  func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(
        PreSessionIdleHandler(timeout: timeout), name: PreSessionIdleHandler.name, position: .first)
    }.flatMap { base.setup(channel: channel, logger: logger) }
  }

  func handle(value: Value, logger: Logger) async {
    await base.handle(value: value, logger: logger)
  }
}

/// The first handler of a connection's pipeline until its WebSocket upgrade: closes the channel
/// when nothing has been read for `timeout`. One timer per connection, checked when it fires
/// (a read only notes the time). Thread: the channel's event loop.
final class PreSessionIdleHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  /// The handler's name in the pipeline.
  static let name = "streamrnn.pre-session-idle"

  private let timeout: TimeAmount
  private var lastRead = NIODeadline.now()
  private var timer: Scheduled<Void>?

  init(timeout: TimeAmount) { self.timeout = timeout }

  /// Takes the handler out of a pipeline (after the upgrade; on its event loop); nothing when it
  /// is not there.
  static func remove(from operations: ChannelPipeline.SynchronousOperations) {
    if let context = try? operations.context(name: name) {
      operations.removeHandler(context: context, promise: nil)
    }
  }

  func handlerAdded(context: ChannelHandlerContext) {
    if context.channel.isActive { arm(context, at: lastRead + timeout) }
  }

  func channelActive(context: ChannelHandlerContext) {
    lastRead = .now()
    arm(context, at: lastRead + timeout)
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    lastRead = .now()
    context.fireChannelRead(data)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    timer?.cancel()
    timer = nil
  }

  private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
    timer?.cancel()
    let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
    timer = context.eventLoop.scheduleTask(deadline: deadline) {
      let (handler, context) = loopBound.value
      handler.fire(context)
    }
  }

  private func fire(_ context: ChannelHandlerContext) {
    timer = nil
    let due = lastRead + timeout
    if due > .now() {
      arm(context, at: due)
    } else {
      context.close(promise: nil)
    }
  }
}
