#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How Hz map to mels.
public enum MelScale: String, Sendable, CaseIterable {
  /// `2595 log10(1 + f/700)` (torchaudio's default).
  case htk
  /// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above.
  case slaney
}

/// Filter normalisation for torchaudio's mel filterbank.
public enum MelNorm: String, Sendable, CaseIterable {
  /// Peak 1 triangles (torchaudio's default).
  case none
  /// Each triangle divided by its width in Hz (constant energy per band).
  case slaney
}

/// Triangular mel filters over the bins of a one-sided spectrum, stored sparsely: each filter keeps
/// only the contiguous run of bins where its weight is nonzero.
///
/// Precision: weights are computed in float32 with torchaudio's operation order, not in double.
/// On frames whose spectrum is steep, float32 weights move a log-mel bin by up to ~2e-3 nats, more
/// than the 1e-3 bar; matching torchaudio's own rounding keeps us within it (measured on the
/// goldens; double weights were closer to a float64 reference but failed the float32 bar).
struct MelFilterbank {
  /// `[melCount]` first nonzero bin of each filter.
  let firstBin: [Int]
  /// `[melCount]` how many bins each filter spans.
  let binSpan: [Int]
  /// `[melCount]` where each filter's weights start in `weights`.
  let weightStart: [Int]
  /// All filters' nonzero weights, filter after filter: filter `m` weighs bins
  /// `firstBin[m] ..< firstBin[m] + binSpan[m]` with `weights[weightStart[m] ..< + binSpan[m]]`.
  let weights: [Float]
  let binCount: Int
  var melCount: Int { firstBin.count }

  /// From a dense `[binCount][melCount]` matrix, as torchaudio lays out `fb`.
  init(dense: [[Double]], binCount: Int, melCount: Int) {
    var first: [Int] = []
    var span: [Int] = []
    var starts: [Int] = []
    var flat: [Float] = []
    for mel in 0..<melCount {
      let column = (0..<binCount).map { Float(dense[$0][mel]) }
      let start = column.firstIndex { $0 != 0 } ?? 0
      let end = max((column.lastIndex { $0 != 0 } ?? -1) + 1, start)
      first.append(start)
      span.append(end - start)
      starts.append(flat.count)
      flat.append(contentsOf: column[start..<end])
    }
    firstBin = first
    binSpan = span
    weightStart = starts
    weights = flat
    self.binCount = binCount
  }

  /// `torchaudio.functional.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale)`,
  /// in float32 with torchaudio's operation order (see the type's note on precision).
  static func torchaudio(
    binCount: Int, fMin: Double, fMax: Double, melCount: Int, sampleRate: Int, norm: MelNorm, scale: MelScale
  ) -> MelFilterbank {
    // all_freqs = linspace(0, sample_rate // 2, n_freqs): integer division, as torchaudio does.
    let binFrequencies = linspace(0, Float(sampleRate / 2), count: binCount)
    let melPoints = linspace(Float(hzToMel(fMin, scale)), Float(hzToMel(fMax, scale)), count: melCount + 2)
    let points = melPoints.map { melToHz($0, scale) }
    let widths = (0..<(melCount + 1)).map { points[$0 + 1] - points[$0] }
    var dense = [[Double]](repeating: [Double](repeating: 0, count: melCount), count: binCount)
    for bin in 0..<binCount {
      for mel in 0..<melCount {
        // slopes = f_pts - all_freqs; down = -slopes[m] / f_diff[m]; up = slopes[m+2] / f_diff[m+1].
        let down = (-1 * (points[mel] - binFrequencies[bin])) / widths[mel]
        let up = (points[mel + 2] - binFrequencies[bin]) / widths[mel + 1]
        var weight = max(0, min(down, up))
        if norm == .slaney { weight *= 2 / (points[mel + 2] - points[mel]) }
        dense[bin][mel] = Double(weight)
      }
    }
    return MelFilterbank(dense: dense, binCount: binCount, melCount: melCount)
  }

  /// `torchaudio.compliance.kaldi.get_mel_banks` (no VTLN warping), with the zero Nyquist column
  /// torchaudio appends: `binCount = paddedWindow / 2 + 1`. Float32, in torchaudio's operation order.
  static func kaldi(
    melCount: Int, paddedWindow: Int, sampleRate: Double, lowFrequency: Double, highFrequency: Double
  )
    -> MelFilterbank
  {
    let fftBins = paddedWindow / 2
    let binWidth = Float(sampleRate / Double(paddedWindow))
    // The band edges are Python floats (double) until they meet a float32 tensor.
    let melLow = 1127 * log(1 + lowFrequency / 700)
    let melHigh = 1127 * log(1 + highFrequency / 700)
    let delta = Float((melHigh - melLow) / Double(melCount + 1))
    let low = Float(melLow)
    var dense = [[Double]](repeating: [Double](repeating: 0, count: melCount), count: fftBins + 1)
    for bin in 0..<fftBins {
      let binMel = Float(1127) * logf(1 + (binWidth * Float(bin)) / 700)
      for index in 0..<melCount {
        let left = low + Float(index) * delta
        let center = low + (Float(index) + 1) * delta
        let right = low + (Float(index) + 2) * delta
        let up = (binMel - left) / (center - left)
        let down = (right - binMel) / (right - center)
        dense[bin][index] = Double(max(0, min(up, down)))
      }
    }
    return MelFilterbank(dense: dense, binCount: fftBins + 1, melCount: melCount)
  }

  /// `torch.linspace(start, end, count)` for float32: steps from the start for the first half and
  /// from the end for the second, as ATen's kernel does.
  static func linspace(_ start: Float, _ end: Float, count: Int) -> [Float] {
    guard count > 1 else { return count == 1 ? [start] : [] }
    let step = (end - start) / Float(count - 1)
    let halfway = count / 2
    return (0..<count).map { index in
      index < halfway ? start + step * Float(index) : end - step * Float(count - index - 1)
    }
  }

  /// `output[m] = Σ_k spectrum[k] · weight[m][k]`. Does not allocate or lock.
  @inline(__always)
  func apply(_ spectrum: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
    weights.withUnsafeBufferPointer { flat in
      guard let base = flat.baseAddress else {
        output.update(repeating: 0, count: firstBin.count)
        return
      }
      for mel in 0..<firstBin.count {
        let bins = spectrum + firstBin[mel]
        let row = base + weightStart[mel]
        var sum: Float = 0
        for index in 0..<binSpan[mel] { sum += row[index] * bins[index] }
        output[mel] = sum
      }
    }
  }

  static func hzToMel(_ hz: Double, _ scale: MelScale) -> Double {
    switch scale {
    case .htk:
      return 2595 * log10(1 + hz / 700)
    case .slaney:
      let linearStep = 200.0 / 3
      if hz < 1000 { return hz / linearStep }
      return 1000 / linearStep + log(hz / 1000) / (log(6.4) / 27)
    }
  }

  /// `_mel_to_hz` on a float32 tensor, as torchaudio applies it to the mel points.
  static func melToHz(_ mel: Float, _ scale: MelScale) -> Float {
    switch scale {
    case .htk:
      return 700 * (powf(10, mel / 2595) - 1)
    case .slaney:
      let linearStep = Float(200.0 / 3)
      let logStart = Float(1000 / (200.0 / 3))
      let logStep = Float(log(6.4) / 27)
      if mel < logStart { return linearStep * mel }
      return 1000 * expf(logStep * (mel - logStart))
    }
  }

  static func melToHz(_ mel: Double, _ scale: MelScale) -> Double {
    switch scale {
    case .htk:
      return 700 * (pow(10, mel / 2595) - 1)
    case .slaney:
      let linearStep = 200.0 / 3
      let logStart = 1000 / linearStep
      if mel < logStart { return mel * linearStep }
      return 1000 * exp(log(6.4) / 27 * (mel - logStart))
    }
  }
}
