import Features
import Testing

@Suite("Feature frames equal torchaudio's")
struct FeatureGoldenTests {
  @Test func theGoldenSetCoversTheIssue() {
    let cases = FeatureGoldenCase.all()
    #expect(cases.count >= 42, "cases found: \(cases.count)")
    for audio in ["speech", "chirp_tone", "noise", "silence", "stereo_44k1_s24"] {
      #expect(cases.contains { $0.audio.contains(audio) }, "no golden for \(audio)")
    }
    for flag in ["--center", "--int16-scale", "fbank", "logmel"] {
      #expect(cases.contains { $0.arguments.contains(flag) }, "no golden with \(flag)")
    }
  }

  @Test("Frames match within the stated tolerance", arguments: FeatureGoldenCase.all())
  func matchesTorchaudio(golden: FeatureGoldenCase) throws {
    let expected = try golden.expectedFrames()
    let computed = try golden.computedFrames()
    #expect(computed.featureCount == expected.shape[1])
    let mismatch = featureMismatch(computed.values, expected)
    #expect(mismatch == nil, "\(golden.name): \(mismatch ?? "")")
  }
}
