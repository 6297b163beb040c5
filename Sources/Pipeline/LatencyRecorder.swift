import Histogram
import ModelIO

#if canImport(Glibc)
  import Glibc
#endif

/// A latency distribution in nanoseconds (hdrhistogram, 3 significant digits, 1 ns to 100 s).
///
/// All memory is allocated in `init`; ``record(_:)`` does not allocate or lock (values above the
/// range are clamped to it and counted, never dropped).
public struct LatencyRecorder: Sendable {
  /// The distribution.
  public private(set) var histogram: Histogram<UInt64>
  /// Sum of all recorded values, ns (for means and x-real-time).
  public private(set) var total: UInt64 = 0
  static let highest: UInt64 = 100_000_000_000

  /// An empty recorder.
  public init() {
    histogram = Histogram(
      lowestDiscernibleValue: 1, highestTrackableValue: Self.highest, numberOfSignificantValueDigits: .three)
    // The counts as built are not uniquely referenced: the first write would copy them (229 KB,
    // on the real-time thread). Write now.
    histogram.reset()
  }

  /// Records one value in nanoseconds. Does not allocate or lock.
  @inline(__always)
  public mutating func record(_ nanoseconds: UInt64) {
    let value = min(max(nanoseconds, 1), Self.highest)
    _ = histogram.record(value)
    total &+= nanoseconds
  }

  /// Values recorded.
  public var count: UInt64 { histogram.totalCount }

  /// The distribution on a log axis: `perDecade` bins per factor of ten from 1 ns, only the bins
  /// that hold values, in order. Each recorded value lands in the bin of its histogram bucket's
  /// highest equivalent value. Allocates; not for the real-time path.
  public func bins(perDecade: Int = 10) -> [LatencyBin] {
    let perDecade = max(perDecade, 1)
    var counts: [Int: Int] = [:]
    for item in histogram.recordedValues() where item.count > 0 {
      let bin = Int((log10(Double(max(item.value, 1))) * Double(perDecade)).rounded(.down))
      counts[bin, default: 0] += Int(item.count)
    }
    return counts.keys.sorted().map { bin in
      LatencyBin(
        lowMicroseconds: pow10(Double(bin) / Double(perDecade)) / 1000,
        highMicroseconds: pow10(Double(bin + 1) / Double(perDecade)) / 1000, count: counts[bin] ?? 0)
    }
  }

  /// The summary users see, in microseconds.
  public var summary: LatencySummary {
    LatencySummary(count: count, total: total, max: histogram.max, percentile: histogram.valueAtPercentile)
  }
}

/// A session's latency distribution in nanoseconds, small enough for thousands of sessions: two
/// significant digits (percentiles within 1 %), 1 µs resolution, up to 100 s, 32-bit counts —
/// about 11 KB, where a ``LatencyRecorder`` takes 229 KB (all of it touched when it is zeroed).
///
/// All memory is allocated in `init`; ``record(_:)`` does not allocate or lock.
public struct SessionLatencyRecorder: Sendable {
  private var histogram: Histogram<UInt32>
  private var total: UInt64 = 0

  /// An empty recorder.
  public init() {
    histogram = Histogram(
      lowestDiscernibleValue: 1000, highestTrackableValue: LatencyRecorder.highest,
      numberOfSignificantValueDigits: .two)
    // The counts as built are not uniquely referenced: the first write would copy them. Write
    // now, so that the first ``record(_:)`` (on a real-time thread) does not allocate.
    histogram.reset()
  }

  /// Records one value in nanoseconds (clamped to 100 s). Does not allocate or lock.
  @inline(__always)
  public mutating func record(_ nanoseconds: UInt64) {
    _ = histogram.record(min(nanoseconds, LatencyRecorder.highest))
    total &+= nanoseconds
  }

  /// Values recorded.
  public var count: UInt64 { histogram.totalCount }

  /// The summary users see, in microseconds (percentiles and the largest value within 1 % or 1 µs).
  public var summary: LatencySummary {
    LatencySummary(count: count, total: total, max: histogram.max, percentile: histogram.valueAtPercentile)
  }
}

/// One bin of a latency distribution: values in `[low, high)` µs, and how many.
public struct LatencyBin: Sendable, Equatable {
  /// The bin's lower edge, µs.
  public var lowMicroseconds: Double
  /// The bin's upper edge, µs.
  public var highMicroseconds: Double
  /// Values in the bin.
  public var count: Int

  /// A bin.
  public init(lowMicroseconds: Double, highMicroseconds: Double, count: Int) {
    self.lowMicroseconds = lowMicroseconds
    self.highMicroseconds = highMicroseconds
    self.count = count
  }

  /// `[low_us, high_us, count]`, as `--stats-json` writes it.
  var json: JSONValue {
    .array([.number(lowMicroseconds), .number(highMicroseconds), .number(Double(count))])
  }
}

/// 10^x.
private func pow10(_ x: Double) -> Double { exp(x * M_LN10) }

/// Percentiles of one latency, in microseconds.
public struct LatencySummary: Sendable, Equatable {
  /// Values recorded.
  public var count: Int
  /// Median, µs.
  public var p50: Double
  /// 90th percentile, µs.
  public var p90: Double
  /// 99th percentile, µs.
  public var p99: Double
  /// 99.9th percentile, µs.
  public var p999: Double
  /// Largest, µs.
  public var max: Double
  /// Mean, µs.
  public var mean: Double

  var json: JSONValue {
    .object([
      "count": .number(Double(count)), "p50_us": .number(p50), "p90_us": .number(p90), "p99_us": .number(p99),
      "p999_us": .number(p999), "max_us": .number(max), "mean_us": .number(mean),
    ])
  }
}

extension LatencySummary {
  /// From a histogram in nanoseconds: `count` values summing to `total`, the largest `max`, and
  /// its value at a percentile (0–100).
  init(count: UInt64, total: UInt64, max: UInt64, percentile: (Double) -> UInt64) {
    func us(_ value: UInt64) -> Double { Double(value) / 1000 }
    guard count > 0 else {
      self.init(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)
      return
    }
    self.init(
      count: Int(count), p50: us(percentile(50)), p90: us(percentile(90)), p99: us(percentile(99)),
      p999: us(percentile(99.9)), max: us(max), mean: Double(total) / Double(count) / 1000)
  }
}
