// Times RTNeural's compile-time models (ModelT) on StreamRNN's benchmark zoo, with the method of
// `streamrnn bench`: a CLOCK_MONOTONIC read around every step, the median cost of one read
// subtracted, the median of each of 5 consecutive blocks, the lowest of those; 2,000 untimed
// warm-up steps, 20,000 timed. Also the best mean over 5 blocks of back-to-back steps.
// Weights are uniform(±1/√H), seeded; inputs cycle over 64 random frames, 64-byte aligned.
// Built and run by Scripts/rtneural/side_by_side.sh against a checkout of RTNeural outside the
// repository; prints one JSON object per model.
#include <RTNeural/RTNeural.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace RTNeural;

static uint64_t now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

static std::mt19937 generator(7);
static float uniform(float bound) { return std::uniform_real_distribution<float>(-bound, bound)(generator); }

static std::vector<std::vector<float>> matrix(int rows, int columns, float bound) {
  std::vector<std::vector<float>> m(rows, std::vector<float>(columns));
  for (auto& row : m)
    for (auto& value : row) value = uniform(bound);
  return m;
}

template <int I, int H>
void randomise(GRULayerT<float, I, H>& layer) {
  const float bound = 1.f / std::sqrt(float(H));
  layer.setWVals(matrix(I, 3 * H, bound));
  layer.setUVals(matrix(H, 3 * H, bound));
  layer.setBVals(matrix(2, 3 * H, bound));
}

template <int I, int H>
void randomise(LSTMLayerT<float, I, H>& layer) {
  const float bound = 1.f / std::sqrt(float(H));
  layer.setWVals(matrix(I, 4 * H, bound));
  layer.setUVals(matrix(H, 4 * H, bound));
  layer.setBVals(matrix(1, 4 * H, bound)[0]);
}

template <int I, int O>
void randomise(DenseT<float, I, O>& layer) {
  const float bound = 1.f / std::sqrt(float(I));
  layer.setWeights(matrix(O, I, bound));
  auto bias = matrix(1, O, bound)[0];
  layer.setBias(bias.data());
}

static double clockCost() {
  std::vector<uint64_t> samples(10001);
  for (auto& sample : samples) {
    const uint64_t begin = now();
    sample = now() - begin;
  }
  std::sort(samples.begin(), samples.end());
  return double(samples[samples.size() / 2]);
}

template <typename Model>
void bench(const char* name, Model& model, int inputSize, double cost) {
  const int stride = (inputSize + 15) / 16 * 16;
  float* frames = static_cast<float*>(aligned_alloc(64, 64 * stride * sizeof(float)));
  for (int i = 0; i < 64 * stride; ++i) frames[i] = uniform(1);
  const int warmup = 2000, steps = 20000, block = steps / 5;
  std::vector<uint64_t> durations(steps);
  float sink = 0;
  for (int i = 0; i < warmup; ++i) sink += model.forward(&frames[(i & 63) * stride]);
  for (int i = 0; i < steps; ++i) {
    const uint64_t begin = now();
    sink += model.forward(&frames[(i & 63) * stride]);
    durations[i] = now() - begin;
  }
  double bestMean = 1e30;
  for (int b = 0; b < 5; ++b) {
    const uint64_t begin = now();
    for (int i = b * block; i < (b + 1) * block; ++i) sink += model.forward(&frames[(i & 63) * stride]);
    bestMean = std::min(bestMean, double(now() - begin) / block);
  }
  double best = 1e30;
  std::vector<double> all;
  for (int b = 0; b < 5; ++b) {
    std::vector<double> corrected;
    for (int i = b * block; i < (b + 1) * block; ++i) corrected.push_back(std::max(0.0, double(durations[i]) - cost));
    std::sort(corrected.begin(), corrected.end());
    best = std::min(best, corrected[corrected.size() / 2]);
    all.insert(all.end(), corrected.begin(), corrected.end());
  }
  std::sort(all.begin(), all.end());
  std::printf("{\"model\":\"%s\",\"median_us\":%.4f,\"p99_us\":%.4f,\"block_mean_us\":%.4f,\"sink\":%g}\n", name,
              best / 1000, all[size_t(all.size() * 0.99)] / 1000, bestMean / 1000, double(sink));
  std::free(frames);
}

// Heap-allocated: the 256-unit models exceed Eigen's stack limit.
template <typename Model, typename Setup>
void run(const char* name, int inputSize, double cost, Setup setup) {
  auto model = std::make_unique<Model>();
  setup(*model);
  model->reset();
  bench(name, *model, inputSize, cost);
}

int main(int argc, char** argv) {
  const double cost = clockCost();
  const std::string only = argc > 1 ? argv[1] : "";
  auto wanted = [&](const char* name) { return only.empty() || only == name; };
  if (wanted("gru2x64+head"))
    run<ModelT<float, 40, 4, GRULayerT<float, 40, 64>, GRULayerT<float, 64, 64>, DenseT<float, 64, 4>,
               SoftmaxActivationT<float, 4>>>("gru2x64+head", 40, cost, [](auto& m) {
      randomise(m.template get<0>());
      randomise(m.template get<1>());
      randomise(m.template get<2>());
    });
  if (wanted("lstm2x64+head"))
    run<ModelT<float, 40, 4, LSTMLayerT<float, 40, 64>, LSTMLayerT<float, 64, 64>, DenseT<float, 64, 4>,
               SoftmaxActivationT<float, 4>>>("lstm2x64+head", 40, cost, [](auto& m) {
      randomise(m.template get<0>());
      randomise(m.template get<1>());
      randomise(m.template get<2>());
    });
  if (wanted("gru1x256"))
    run<ModelT<float, 40, 256, GRULayerT<float, 40, 256>>>("gru1x256", 40, cost,
                                                            [](auto& m) { randomise(m.template get<0>()); });
  if (wanted("lstm1x256"))
    run<ModelT<float, 40, 256, LSTMLayerT<float, 40, 256>>>("lstm1x256", 40, cost,
                                                             [](auto& m) { randomise(m.template get<0>()); });
  if (wanted("gru1x16"))
    run<ModelT<float, 16, 16, GRULayerT<float, 16, 16>>>("gru1x16", 16, cost,
                                                          [](auto& m) { randomise(m.template get<0>()); });
  return 0;
}
