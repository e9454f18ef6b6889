// sampler_test.cpp — owl::sampler: greedy, penalties, filters, determinism and the distribution.

#include "owl/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "owl/error.h"

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

owl::sampling_params greedy_params() {
  owl::sampling_params p;
  p.temperature = 0.0f;
  return p;
}

// One draw from a fresh copy of the logits (sample() modifies them in place).
int32_t draw(owl::sampler& s, const std::vector<float>& logits,
             const std::vector<int32_t>& history = {}) {
  std::vector<float> copy = logits;
  return s.sample(copy, history);
}

std::vector<float> random_logits(size_t n, uint64_t seed, float scale = 3.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (float& x : logits) x = normal(rng);
  return logits;
}

// softmax(logits / T) in double.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max_logit = -std::numeric_limits<double>::infinity();
  for (float x : logits) max_logit = std::max(max_logit, static_cast<double>(x));
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = std::exp((logits[i] - max_logit) / temperature);
    total += p[i];
  }
  for (double& x : p) x /= total;
  return p;
}

std::vector<double> frequencies(owl::sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) f[static_cast<size_t>(draw(s, logits))] += 1.0;
  for (double& x : f) x /= draws;
  return f;
}

// Checks the empirical frequencies against the expected probabilities: max abs diff < 0.02 and a
// chi-square statistic below the 0.1% critical value for up to 9 degrees of freedom (27.88).
void expect_distribution(const std::vector<double>& observed, const std::vector<double>& expected,
                         int draws) {
  ASSERT_EQ(observed.size(), expected.size());
  double chi2 = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(observed[i], expected[i], 0.02) << "token " << i;
    if (expected[i] > 0.0) {
      const double diff = (observed[i] - expected[i]) * draws;
      chi2 += diff * diff / (expected[i] * draws);
    } else {
      EXPECT_EQ(observed[i], 0.0) << "token " << i << " has probability 0 but was drawn";
    }
  }
  EXPECT_LT(chi2, 27.88);
}

// ---- Greedy -------------------------------------------------------------------------------------

TEST(SamplerGreedy, PicksArgmax) {
  owl::sampler s(greedy_params(), 5);
  EXPECT_EQ(draw(s, {0.1f, 2.5f, -1.0f, 2.4f, 0.0f}), 1);
  EXPECT_EQ(draw(s, {-5.0f, -4.0f, -3.0f, -2.0f, -1.0f}), 4);
  EXPECT_EQ(draw(s, {9.0f, 0.0f, 0.0f, 0.0f, 0.0f}), 0);
}

TEST(SamplerGreedy, TiesGoToLowestId) {
  owl::sampler s(greedy_params(), 6);
  EXPECT_EQ(draw(s, {0.0f, 3.0f, 1.0f, 3.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(draw(s, {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f}), 0);
  EXPECT_EQ(draw(s, {-kInf, 2.0f, -kInf, 2.0f, 0.0f, 0.0f}), 1);
}

TEST(SamplerGreedy, NaNIsNeverChosen) {
  owl::sampler s(greedy_params(), 5);
  EXPECT_EQ(draw(s, {kNaN, 1.0f, kNaN, 2.0f, kNaN}), 3);
  EXPECT_EQ(draw(s, {kNaN, kNaN, kNaN, kNaN, -7.0f}), 4);
  EXPECT_EQ(draw(s, {kNaN, -kInf, 0.5f, kNaN, -kInf}), 2);
}

TEST(SamplerGreedy, PositiveInfinityWins) {
  owl::sampler s(greedy_params(), 4);
  EXPECT_EQ(draw(s, {1e30f, kNaN, kInf, 3.0f}), 2);
}

TEST(SamplerGreedy, AllNaNOrNegativeInfinityThrows) {
  owl::sampler s(greedy_params(), 4);
  EXPECT_THROW(draw(s, {kNaN, kNaN, kNaN, kNaN}), owl::error);
  EXPECT_THROW(draw(s, {-kInf, -kInf, -kInf, -kInf}), owl::error);
  EXPECT_THROW(draw(s, {kNaN, -kInf, kNaN, -kInf}), owl::error);
}

// ---- NaN and infinities when sampling -----------------------------------------------------------

TEST(SamplerSampling, NaNAndNegativeInfinityAreNeverDrawn) {
  owl::sampling_params p;
  p.temperature = 1.0f;
  p.seed = 7;
  owl::sampler s(p, 6);
  const std::vector<float> logits = {kNaN, 0.0f, -kInf, 0.0f, kNaN, 0.5f};
  for (int i = 0; i < 2000; ++i) {
    const int32_t t = draw(s, logits);
    EXPECT_TRUE(t == 1 || t == 3 || t == 5) << t;
  }
}

TEST(SamplerSampling, AllNaNOrNegativeInfinityThrows) {
  owl::sampling_params p;
  p.top_k = 3;
  p.top_p = 0.5f;
  owl::sampler s(p, 4);
  EXPECT_THROW(draw(s, {kNaN, kNaN, kNaN, kNaN}), owl::error);
  EXPECT_THROW(draw(s, {kNaN, -kInf, kNaN, -kInf}), owl::error);
}

TEST(SamplerSampling, PositiveInfinitySharesAllTheMass) {
  owl::sampling_params p;
  p.seed = 3;
  owl::sampler s(p, 5);
  const std::vector<float> logits = {kInf, 100.0f, kNaN, kInf, 3.0f};
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) seen.insert(draw(s, logits));
  EXPECT_EQ(seen, (std::set<int32_t>{0, 3}));
}

TEST(SamplerSampling, TinyTemperatureDoesNotOverflow) {
  owl::sampling_params p;
  p.temperature = 1e-30f;
  owl::sampler s(p, 4);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(draw(s, {1e30f, 3e37f, -2e38f, 2.9e37f}), 1);
}

// ---- Filters that must reduce to greedy ---------------------------------------------------------

TEST(SamplerFilters, TopK1EqualsGreedyAtAnyTemperature) {
  for (float temperature : {0.01f, 0.5f, 1.0f, 3.0f, 100.0f}) {
    owl::sampling_params p;
    p.temperature = temperature;
    p.top_k = 1;
    p.seed = 11;
    owl::sampler s(p, 1000);
    owl::sampler g(greedy_params(), 1000);
    for (uint64_t trial = 0; trial < 20; ++trial) {
      std::vector<float> logits = random_logits(1000, trial);
      if (trial % 2 == 1) logits[700] = logits[300] = 50.0f;  // a tie: lowest id, like greedy
      EXPECT_EQ(draw(s, logits), draw(g, logits)) << "temperature " << temperature;
    }
  }
}

TEST(SamplerFilters, TinyTopPEqualsGreedy) {
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    owl::sampling_params p;
    p.temperature = temperature;
    p.top_p = 1e-6f;
    p.seed = 12;
    owl::sampler s(p, 1000);
    owl::sampler g(greedy_params(), 1000);
    for (uint64_t trial = 0; trial < 20; ++trial) {
      const std::vector<float> logits = random_logits(1000, 100 + trial);
      EXPECT_EQ(draw(s, logits), draw(g, logits)) << "temperature " << temperature;
    }
  }
}

TEST(SamplerFilters, MinP1EqualsGreedy) {
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    owl::sampling_params p;
    p.temperature = temperature;
    p.min_p = 1.0f;
    p.seed = 13;
    owl::sampler s(p, 1000);
    owl::sampler g(greedy_params(), 1000);
    for (uint64_t trial = 0; trial < 20; ++trial) {
      const std::vector<float> logits = random_logits(1000, 200 + trial);
      EXPECT_EQ(draw(s, logits), draw(g, logits)) << "temperature " << temperature;
    }
  }
}

TEST(SamplerFilters, TopK2NeverYieldsOtherTokens) {
  owl::sampling_params p;
  p.top_k = 2;
  p.temperature = 5.0f;  // flat: the other tokens would show up often without top-k
  p.seed = 5;
  owl::sampler s(p, 6);
  const std::vector<float> logits = {0.5f, 1.0f, 0.9f, 2.0f, 1.5f, 0.0f};
  std::vector<double> f = frequencies(s, logits, 20000);
  // The kept pair {3, 4}, renormalized.
  const std::vector<double> pair = softmax({2.0f, 1.5f}, 5.0);
  expect_distribution(f, {0.0, 0.0, 0.0, pair[0], pair[1], 0.0}, 20000);
}

TEST(SamplerFilters, TopKOnLargeVocabularyKeepsTheKLargest) {
  const size_t vocab = 150000;
  owl::sampling_params p;
  p.top_k = 40;
  p.temperature = 10.0f;
  p.seed = 99;
  owl::sampler s(p, vocab);
  const std::vector<float> logits = random_logits(vocab, 42);
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + 39, sorted.end(), std::greater<>());
  const float fortieth = sorted[39];
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) {
    const int32_t t = draw(s, logits);
    ASSERT_GE(logits[static_cast<size_t>(t)], fortieth);
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), 20u);  // at T = 10 most of the 40 come up
}

TEST(SamplerFilters, TopPKeepsTheNucleus) {
  // Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625: top_p = 0.8 keeps {0, 1, 2} (0.875 >= 0.8).
  const std::vector<float> logits = {std::log(8.0f), std::log(4.0f), std::log(2.0f), 0.0f, 0.0f};
  owl::sampling_params p;
  p.top_p = 0.8f;
  p.seed = 21;
  owl::sampler s(p, logits.size());
  const std::vector<double> f = frequencies(s, logits, 20000);
  expect_distribution(f, {4.0 / 7, 2.0 / 7, 1.0 / 7, 0.0, 0.0}, 20000);
}

TEST(SamplerFilters, TopPCutInsideOneHistogramBin) {
  // Ten weights within a few percent of each other (one histogram bin): top_p = 0.45 keeps the five
  // largest (mass ~0.51; the four largest have ~0.41).
  std::vector<float> logits(10);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = -0.01f * static_cast<float>((i * 7) % 10);
  owl::sampling_params p;
  p.top_p = 0.45f;
  p.seed = 31;
  owl::sampler s(p, logits.size());
  const std::vector<double> all = softmax(logits, 1.0);
  std::vector<double> expected(logits.size(), 0.0);
  double kept = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= -0.045f) {  // the five largest: -0.00 .. -0.04
      expected[i] = all[i];
      kept += all[i];
    }
  }
  for (double& x : expected) x /= kept;
  expect_distribution(frequencies(s, logits, 20000), expected, 20000);
}

TEST(SamplerFilters, TopPTiesGoToTheLowestIds) {
  // Eight equal logits: top_p = 0.25 needs mass 2 of 8, so ids 0 and 1, uniformly.
  const std::vector<float> logits(8, 1.5f);
  owl::sampling_params p;
  p.top_p = 0.25f;
  p.seed = 32;
  owl::sampler s(p, logits.size());
  expect_distribution(frequencies(s, logits, 20000), {0.5, 0.5, 0, 0, 0, 0, 0, 0}, 20000);
}

TEST(SamplerFilters, TopPOnLargeVocabularyMatchesAFullSort) {
  const size_t vocab = 50000;
  const std::vector<float> logits = random_logits(vocab, 77, 1.5f);
  owl::sampling_params p;
  p.top_p = 0.6f;
  p.seed = 4;
  // Reference nucleus from a full sort.
  const std::vector<double> probs = softmax(logits, 1.0);
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  std::set<int32_t> nucleus;
  double cumulative = 0.0;
  for (int32_t id : order) {
    nucleus.insert(id);
    cumulative += probs[static_cast<size_t>(id)];
    if (cumulative >= 0.6) break;
  }
  ASSERT_GT(nucleus.size(), 500u);  // spans many histogram bins
  owl::sampler s(p, vocab);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(nucleus.count(draw(s, logits))) << "draw " << i;
}

TEST(SamplerFilters, MinPKeepsTokensAboveTheFraction) {
  // Probabilities proportional to 8, 4, 2, 1, 1: min_p = 0.25 keeps p >= 2/8, i.e. {0, 1, 2}.
  const std::vector<float> logits = {std::log(8.0f), std::log(4.0f), std::log(2.0f), 0.0f, 0.0f};
  owl::sampling_params p;
  p.min_p = 0.25f;
  p.seed = 22;
  owl::sampler s(p, logits.size());
  const std::vector<double> f = frequencies(s, logits, 20000);
  expect_distribution(f, {4.0 / 7, 2.0 / 7, 1.0 / 7, 0.0, 0.0}, 20000);
}

// ---- Penalties ----------------------------------------------------------------------------------

TEST(SamplerPenalties, RepetitionDividesPositiveAndMultipliesNegative) {
  owl::sampling_params p = greedy_params();
  p.repetition_penalty = 2.0f;
  owl::sampler s(p, 5);
  std::vector<float> logits = {3.0f, -1.5f, 0.0f, 1.0f, 2.0f};
  // Token 0 three times, 1 and 2 once; 7 and -1 are outside the vocabulary and ignored.
  const std::vector<int32_t> history = {0, 1, 0, 7, 2, -1, 0};
  s.sample(logits, history);
  EXPECT_FLOAT_EQ(logits[0], 1.5f);   // 3 / 2, once however often it occurs
  EXPECT_FLOAT_EQ(logits[1], -3.0f);  // -1.5 * 2
  EXPECT_FLOAT_EQ(logits[2], 0.0f);
  EXPECT_FLOAT_EQ(logits[3], 1.0f);  // not in the history
  EXPECT_FLOAT_EQ(logits[4], 2.0f);
}

TEST(SamplerPenalties, FrequencySubtractsCountTimesPenalty) {
  owl::sampling_params p = greedy_params();
  p.frequency_penalty = 0.5f;
  owl::sampler s(p, 4);
  std::vector<float> logits = {1.0f, 1.0f, -2.0f, 0.25f};
  const std::vector<int32_t> history = {0, 2, 2, 2, 100, 0};
  s.sample(logits, history);
  EXPECT_FLOAT_EQ(logits[0], 0.0f);    // 1 - 2 * 0.5
  EXPECT_FLOAT_EQ(logits[1], 1.0f);    // unseen
  EXPECT_FLOAT_EQ(logits[2], -3.5f);   // -2 - 3 * 0.5
  EXPECT_FLOAT_EQ(logits[3], 0.25f);   // unseen
}

TEST(SamplerPenalties, PresenceSubtractsOnceForSeenTokens) {
  owl::sampling_params p = greedy_params();
  p.presence_penalty = 0.75f;
  owl::sampler s(p, 4);
  std::vector<float> logits = {1.0f, 1.0f, -2.0f, 0.25f};
  const std::vector<int32_t> history = {0, 2, 2, 2, -5};
  s.sample(logits, history);
  EXPECT_FLOAT_EQ(logits[0], 0.25f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f);
  EXPECT_FLOAT_EQ(logits[2], -2.75f);
  EXPECT_FLOAT_EQ(logits[3], 0.25f);
}

TEST(SamplerPenalties, AppliedInOrderRepetitionFrequencyPresence) {
  owl::sampling_params p = greedy_params();
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  owl::sampler s(p, 3);
  const std::vector<int32_t> history = {0, 1, 0, 1};
  for (int call = 0; call < 2; ++call) {  // the counts reset between calls
    std::vector<float> logits = {3.0f, -3.0f, 1.0f};
    EXPECT_EQ(s.sample(logits, history), 2);  // the penalties move the argmax off token 0
    EXPECT_FLOAT_EQ(logits[0], 0.75f);   // 3 / 1.5 - 2 * 0.5 - 0.25
    EXPECT_FLOAT_EQ(logits[1], -5.75f);  // -3 * 1.5 - 2 * 0.5 - 0.25
    EXPECT_FLOAT_EQ(logits[2], 1.0f);
  }
}

TEST(SamplerPenalties, ApplyBeforeSampling) {
  owl::sampling_params p;
  p.top_k = 1;
  p.presence_penalty = 10.0f;
  owl::sampler s(p, 3);
  EXPECT_EQ(draw(s, {5.0f, 4.0f, 0.0f}, {0}), 1);
  EXPECT_EQ(draw(s, {5.0f, 4.0f, 0.0f}, {0, 1}), 2);
  EXPECT_EQ(draw(s, {5.0f, 4.0f, 0.0f}), 0);
}

// ---- Determinism --------------------------------------------------------------------------------

std::vector<int32_t> sequence(uint64_t seed, int n) {
  owl::sampling_params p;
  p.seed = seed;
  p.temperature = 1.5f;
  p.top_k = 50;
  p.top_p = 0.95f;
  owl::sampler s(p, 256);
  const std::vector<float> logits = random_logits(256, 5, 1.0f);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(draw(s, logits, out));
  return out;
}

TEST(SamplerDeterminism, SameSeedSameSequence) {
  EXPECT_EQ(sequence(1234, 100), sequence(1234, 100));
  EXPECT_EQ(sequence(0, 100), sequence(0, 100));
}

TEST(SamplerDeterminism, DifferentSeedsDiffer) {
  EXPECT_NE(sequence(1234, 100), sequence(1235, 100));
  EXPECT_NE(sequence(0, 100), sequence(1, 100));
}

// ---- The distribution ---------------------------------------------------------------------------

TEST(SamplerDistribution, MatchesSoftmaxAtTemperature1) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f};
  owl::sampling_params p;
  p.temperature = 1.0f;
  p.seed = 2024;
  owl::sampler s(p, logits.size());
  expect_distribution(frequencies(s, logits, 20000), softmax(logits, 1.0), 20000);
}

TEST(SamplerDistribution, MatchesSoftmaxAtTemperatureHalf) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f};
  owl::sampling_params p;
  p.temperature = 0.5f;
  p.seed = 2025;
  owl::sampler s(p, logits.size());
  expect_distribution(frequencies(s, logits, 20000), softmax(logits, 0.5), 20000);
}

// ---- Parameters ---------------------------------------------------------------------------------

void expect_invalid(const owl::sampling_params& p, const std::string& field) {
  try {
    owl::sampler s(p, 10);
    ADD_FAILURE() << "no error for " << field;
  } catch (const owl::error& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(SamplerParams, InvalidValuesThrow) {
  owl::sampling_params p;
  p = {}; p.temperature = -0.1f; expect_invalid(p, "temperature");
  p = {}; p.temperature = kNaN; expect_invalid(p, "temperature");
  p = {}; p.temperature = kInf; expect_invalid(p, "temperature");
  p = {}; p.top_k = -1; expect_invalid(p, "top_k");
  p = {}; p.top_p = 0.0f; expect_invalid(p, "top_p");
  p = {}; p.top_p = 1.01f; expect_invalid(p, "top_p");
  p = {}; p.top_p = -0.5f; expect_invalid(p, "top_p");
  p = {}; p.top_p = kNaN; expect_invalid(p, "top_p");
  p = {}; p.min_p = -0.01f; expect_invalid(p, "min_p");
  p = {}; p.min_p = 1.5f; expect_invalid(p, "min_p");
  p = {}; p.min_p = kNaN; expect_invalid(p, "min_p");
  p = {}; p.repetition_penalty = 0.0f; expect_invalid(p, "repetition_penalty");
  p = {}; p.repetition_penalty = -1.0f; expect_invalid(p, "repetition_penalty");
  p = {}; p.repetition_penalty = kInf; expect_invalid(p, "repetition_penalty");
  p = {}; p.frequency_penalty = kNaN; expect_invalid(p, "frequency_penalty");
  p = {}; p.frequency_penalty = -kInf; expect_invalid(p, "frequency_penalty");
  p = {}; p.presence_penalty = kInf; expect_invalid(p, "presence_penalty");
}

TEST(SamplerParams, BoundaryValuesAreAccepted) {
  owl::sampling_params p;
  p.temperature = 0.0f;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.top_k = 0;
  p.frequency_penalty = -2.0f;  // OpenAI allows negative penalties
  p.presence_penalty = -2.0f;
  EXPECT_NO_THROW(owl::sampler(p, 10));
  p.min_p = 0.0f;
  p.top_p = 1e-9f;
  p.top_k = 1000;  // larger than the vocabulary: off
  EXPECT_NO_THROW(owl::sampler(p, 10));
}

TEST(SamplerParams, WrongLogitsSizeThrows) {
  owl::sampler s(owl::sampling_params{}, 4);
  std::vector<float> short_logits(3, 0.0f), long_logits(5, 0.0f);
  EXPECT_THROW(s.sample(short_logits, {}), owl::error);
  EXPECT_THROW(s.sample(long_logits, {}), owl::error);
}

TEST(SamplerParams, ZeroVocabularyThrows) {
  EXPECT_THROW(owl::sampler(owl::sampling_params{}, 0), owl::error);
}

TEST(SamplerParams, KeepsTheParams) {
  owl::sampling_params p;
  p.top_k = 17;
  p.seed = 9;
  owl::sampler s(p, 10);
  EXPECT_EQ(s.params().top_k, 17);
  EXPECT_EQ(s.params().seed, 9u);
}

}  // namespace
