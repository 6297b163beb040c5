#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A POSIX thread running one closure, joined explicitly: the stream's source thread.
///
/// Plain pthreads rather than Foundation's `Thread`, so the tool does not load Foundation; and a
/// real `pthread_join` instead of polling a finished flag.
package final class JoinableThread {
  private var thread: pthread_t?

  /// Starts `body` on a new thread.
  /// - Throws: ``StreamError/threadFailed(function:code:)`` if the thread cannot be created.
  package init(_ body: @escaping @Sendable () -> Void) throws {
    let box = Unmanaged.passRetained(Box(body: body))
    var handle = pthread_t()
    let result = pthread_create(
      &handle, nil,
      { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
      }, box.toOpaque())
    guard result == 0 else {
      box.release()
      throw StreamError.threadFailed(function: "pthread_create", code: result)
    }
    thread = handle
  }

  /// Waits until the closure has returned. Later calls return at once.
  package func join() {
    guard let handle = thread else { return }
    pthread_join(handle, nil)
    thread = nil
  }

  private final class Box {
    let body: @Sendable () -> Void
    init(body: @escaping @Sendable () -> Void) { self.body = body }
  }
}
