/// A time series of vectors kept at a bounded resolution: each column summarises `span`
/// consecutive inputs (their minimum and maximum per channel, and their sum for a mean); when all
/// `capacity` columns are used, neighbouring pairs merge in place and `span` doubles. A stream of
/// any length fits in the memory allocated at `init`; ``add(_:)`` never allocates.
/// One thread at a time.
public struct DecimatedColumns: Sendable {
  /// Values per input (channels).
  public let channels: Int
  /// Columns kept at most (even).
  public let capacity: Int
  /// Inputs per column now.
  public private(set) var span: Int
  /// Complete and partial columns in use.
  public private(set) var count = 0
  /// Inputs added in all.
  public private(set) var inputs = 0
  /// `[capacity, channels]` each column's minimum, maximum and sum.
  private var minimum: [Float]
  private var maximum: [Float]
  private var sum: [Float]
  /// `[capacity]` inputs in each column.
  private var filled: [Int]

  /// Room for `capacity` columns (rounded up to even, at least 2) of `channels` values, starting
  /// at `span` inputs per column.
  public init(channels: Int, capacity: Int, span: Int = 1) {
    self.channels = max(channels, 0)
    self.capacity = max(2, capacity + capacity % 2)
    self.span = max(span, 1)
    minimum = [Float](repeating: 0, count: self.capacity * self.channels)
    maximum = minimum
    sum = minimum
    filled = [Int](repeating: 0, count: self.capacity)
  }

  /// Adds one input (`channels` values; NaN counts as nothing for the minimum and maximum).
  public mutating func add(_ values: UnsafeBufferPointer<Float>) {
    if count > 0 && filled[count - 1] < span {
      let base = (count - 1) * channels
      for channel in 0..<channels {
        let value = values[channel]
        if value < minimum[base + channel] { minimum[base + channel] = value }
        if value > maximum[base + channel] { maximum[base + channel] = value }
        sum[base + channel] += value
      }
      filled[count - 1] += 1
    } else {
      if count == capacity { halve() }
      let base = count * channels
      for channel in 0..<channels {
        minimum[base + channel] = values[channel]
        maximum[base + channel] = values[channel]
        sum[base + channel] = values[channel]
      }
      filled[count] = 1
      count += 1
    }
    inputs += 1
  }

  /// Adds a one-channel input.
  public mutating func add(_ value: Float) {
    withUnsafePointer(to: value) { add(UnsafeBufferPointer(start: $0, count: 1)) }
  }

  /// Merges columns pairwise: half as many, each twice as long.
  private mutating func halve() {
    for column in 0..<count / 2 {
      let to = column * channels
      let a = 2 * column * channels
      let b = a + channels
      for channel in 0..<channels {
        minimum[to + channel] = Swift.min(minimum[a + channel], minimum[b + channel])
        maximum[to + channel] = Swift.max(maximum[a + channel], maximum[b + channel])
        sum[to + channel] = sum[a + channel] + sum[b + channel]
      }
      filled[column] = filled[2 * column] + filled[2 * column + 1]
    }
    count /= 2
    span *= 2
  }

  /// Column `column`'s minimum of `channel`.
  public func minimum(_ column: Int, _ channel: Int = 0) -> Float { minimum[column * channels + channel] }
  /// Column `column`'s maximum of `channel`.
  public func maximum(_ column: Int, _ channel: Int = 0) -> Float { maximum[column * channels + channel] }
  /// Column `column`'s mean of `channel`.
  public func mean(_ column: Int, _ channel: Int = 0) -> Float {
    sum[column * channels + channel] / Float(max(filled[column], 1))
  }
  /// Inputs in column `column` (`span`, less for the last).
  public func inputs(in column: Int) -> Int { filled[column] }
}
