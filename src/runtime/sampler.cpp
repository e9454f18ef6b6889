// sampler.cpp — logits -> next token.
//
// The order follows Hugging Face transformers' logits processors where they overlap:
//   penalties (repetition, then OpenAI frequency and presence) -> temperature -> top-k ->
//   softmax -> top-p -> min-p -> renormalize -> draw.
// temperature 0 short-cuts to argmax after the penalties.
//
// Why it is written the way it is:
// - A vocabulary can be 150k+ tokens and we sample once per generated token, so nothing here sorts
//   the whole vocabulary: top-k is a partial_sort (heap selection, O(vocab log k)), and top-p finds
//   its cut with a histogram of the weights and sorts only the tokens of the bin where the cut
//   falls (see step 5).
// - The scratch vectors are members, sized once in the constructor: no allocation per call.
// - Temperature is applied inside the softmax as exp((logit - max) / T) rather than by dividing the
//   logits first: mathematically the same distribution, but a tiny T cannot overflow to inf. The
//   logits left in the caller's span are therefore the penalized logits (before temperature).
// - Candidates are ordered by (logit descending, id ascending): a total order, so partial_sort and
//   sort give the same result on every standard library, and ties resolve like greedy.
// - The draw uses its own mapping of mt19937_64 bits to [0, 1) instead of
//   std::uniform_real_distribution, whose algorithm is implementation-defined: the same seed gives
//   the same tokens with libstdc++ and libc++.

#include "owl/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "owl/error.h"

namespace owl {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::string show(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

void check_param(bool ok, const char* field, const std::string& expected, double found,
                 const std::string& hint) {
  if (ok) return;
  fail(std::string("sampling_params: field '") + field + "'",
       "expected " + expected + ", found " + show(found), hint);
}

[[noreturn]] void fail_no_usable_logit() {
  fail("sampler", "every logit is NaN or -inf",
       "the model produced no usable scores; check the weights and the forward pass");
}

// A token can be drawn only if its logit is a number above -inf (false for NaN).
inline bool usable(float logit) { return logit > -kInf; }

// Unnormalized softmax weight: exactly 1 for the maximum, in [0, 1] for the others.
// max_logit == +inf: the +inf logits share all the probability equally.
inline float weight(float logit, float max_logit, float temperature) {
  if (max_logit == kInf) return logit == kInf ? 1.0f : 0.0f;
  return std::exp((logit - max_logit) / temperature);
}

// Top-p histogram bin of a weight w in (0, 1]: 0 for w = 1, growing as w shrinks, 8 bins per
// octave (the float's exponent and its top 3 mantissa bits). Monotone in w, hence in the logit.
constexpr size_t kBins = (0x3F800000u >> 20) + 1;
inline size_t bin_of(float w) {
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof bits);
  return (0x3F800000u - bits) >> 20;
}

// HF repetition penalty, then OpenAI frequency and presence penalties, once per distinct token.
// counts is all zeros on entry and on exit: each count is reset as soon as it is applied, so the
// cost is O(history), not O(vocab).
void apply_penalties(const sampling_params& p, std::span<float> logits,
                     std::span<const int32_t> history, std::vector<uint32_t>& counts) {
  const size_t vocab = logits.size();
  for (int32_t id : history) {
    if (id >= 0 && static_cast<size_t>(id) < vocab) ++counts[static_cast<size_t>(id)];
  }
  for (int32_t id : history) {
    if (id < 0 || static_cast<size_t>(id) >= vocab) continue;
    const size_t i = static_cast<size_t>(id);
    const uint32_t count = counts[i];
    if (count == 0) continue;  // applied already
    counts[i] = 0;
    float& logit = logits[i];
    if (p.repetition_penalty != 1.0f) {
      logit = logit > 0.0f ? logit / p.repetition_penalty : logit * p.repetition_penalty;
    }
    logit -= static_cast<float>(count) * p.frequency_penalty;
    logit -= p.presence_penalty;
  }
}

// Argmax; ties go to the lowest id; NaN and -inf are never chosen. -1 when nothing is usable.
int32_t argmax(std::span<const float> logits) {
  int32_t best = -1;
  float best_logit = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_logit) {  // strict: a tie keeps the lower id; false for NaN
      best_logit = logits[i];
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace

sampler::sampler(const sampling_params& params, size_t vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
  const sampling_params& p = params_;
  check_param(std::isfinite(p.temperature) && p.temperature >= 0.0f, "temperature",
              "a finite value >= 0", p.temperature,
              "use 0 for greedy decoding, 1 for the model's own distribution");
  check_param(p.top_k >= 0, "top_k", "an integer >= 0", p.top_k, "use 0 to turn top-k off");
  check_param(std::isfinite(p.top_p) && p.top_p > 0.0f && p.top_p <= 1.0f, "top_p",
              "a value in (0, 1]", p.top_p, "use 1 to turn top-p off");
  check_param(std::isfinite(p.min_p) && p.min_p >= 0.0f && p.min_p <= 1.0f, "min_p",
              "a value in [0, 1]", p.min_p, "use 0 to turn min-p off");
  check_param(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f,
              "repetition_penalty", "a finite value > 0", p.repetition_penalty,
              "use 1 to turn it off; values above 1 discourage repeats");
  check_param(std::isfinite(p.frequency_penalty), "frequency_penalty", "a finite value",
              p.frequency_penalty, "use 0 to turn it off");
  check_param(std::isfinite(p.presence_penalty), "presence_penalty", "a finite value",
              p.presence_penalty, "use 0 to turn it off");
  if (vocab_size == 0 ||
      vocab_size > static_cast<size_t>(std::numeric_limits<int32_t>::max()) + 1) {
    fail("sampler", "expected a vocabulary size in [1, 2^31], found " + std::to_string(vocab_size),
         "pass the model's vocab_size");
  }
  candidates_.reserve(vocab_size);
  probabilities_.reserve(vocab_size);
  counts_.assign(vocab_size, 0);
}

int32_t sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  if (logits.size() != vocab_size_) {
    fail("sampler",
         "expected " + std::to_string(vocab_size_) + " logits, found " + std::to_string(logits.size()),
         "the logits must cover the whole vocabulary");
  }
  const sampling_params& p = params_;
  const size_t vocab = vocab_size_;

  // ---- 1. Penalties.
  if (p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    apply_penalties(p, logits, history, counts_);
  }

  // ---- 2. Greedy.
  if (p.temperature <= 0.0f) {
    const int32_t best = argmax(logits);
    if (best < 0) fail_no_usable_logit();
    return best;
  }

  // ---- 3. Candidates: the usable tokens, or the top k of them (dividing by T > 0 keeps the order,
  // so top-k before or after the temperature is the same).
  // Order: logit descending, then id ascending; a total order, so every standard library agrees.
  const auto higher = [&logits](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  candidates_.clear();
  for (size_t i = 0; i < vocab; ++i) {
    if (usable(logits[i])) candidates_.push_back(static_cast<int32_t>(i));
  }
  if (candidates_.empty()) fail_no_usable_logit();
  float max_logit;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < candidates_.size()) {
    // Heap selection: one pass over the vocabulary, then the k survivors sorted.
    const auto k = static_cast<ptrdiff_t>(p.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), higher);
    candidates_.resize(static_cast<size_t>(k));
    max_logit = logits[static_cast<size_t>(candidates_[0])];
  } else {
    max_logit = -kInf;
    for (int32_t id : candidates_) max_logit = std::max(max_logit, logits[static_cast<size_t>(id)]);
  }

  // ---- 4. Softmax weights (unnormalized, max = 1), dropping the tokens whose weight underflows
  // to 0: they can never be drawn.
  const float temperature = p.temperature;
  probabilities_.clear();
  size_t n = 0;
  double total = 0.0;
  for (int32_t id : candidates_) {
    const float w = weight(logits[static_cast<size_t>(id)], max_logit, temperature);
    if (w > 0.0f) {
      candidates_[n++] = id;
      probabilities_.push_back(w);
      total += w;
    }
  }
  candidates_.resize(n);  // n >= 1: the max-logit token has weight 1

  // ---- 5. Top-p: the shortest run of highest-probability tokens whose mass reaches top_p.
  // Rather than sorting, a histogram of the weights (8 bins per octave) finds the bin where the
  // running mass crosses top_p * total; the bins above it are in the nucleus whole, and only the
  // tokens of that one bin are sorted: O(vocab) plus the sort of one bin, not of the vocabulary.
  if (p.top_p < 1.0f) {
    const double threshold = static_cast<double>(p.top_p) * total;
    std::array<double, kBins> mass{};
    for (float w : probabilities_) mass[bin_of(w)] += w;
    double above = 0.0;  // mass of the bins before the cut
    size_t cut = kBins;
    for (size_t b = 0; b < kBins; ++b) {
      if (above + mass[b] >= threshold) {
        cut = b;
        break;
      }
      above += mass[b];
    }
    if (cut < kBins) {  // else rounding kept the sum just short of the threshold: keep everything
      // Partition: bins before the cut first, then the cut bin; drop the bins after it.
      size_t lo = 0, hi = n;
      while (lo < hi) {
        const size_t b = bin_of(probabilities_[lo]);
        if (b < cut) {
          ++lo;
        } else {
          --hi;
          std::swap(candidates_[lo], candidates_[hi]);
          std::swap(probabilities_[lo], probabilities_[hi]);
        }
      }
      size_t end = lo;
      for (size_t i = lo; i < n; ++i) {
        if (bin_of(probabilities_[i]) == cut) {
          candidates_[end] = candidates_[i];
          probabilities_[end] = probabilities_[i];
          ++end;
        }
      }
      // Sort the cut bin and take its prefix until the running mass reaches the threshold.
      std::sort(candidates_.begin() + static_cast<ptrdiff_t>(lo),
                candidates_.begin() + static_cast<ptrdiff_t>(end), higher);
      double cumulative = above;
      size_t keep = end;
      for (size_t i = lo; i < end; ++i) {
        probabilities_[i] = weight(logits[static_cast<size_t>(candidates_[i])], max_logit, temperature);
        cumulative += probabilities_[i];
        if (cumulative >= threshold) {
          keep = i + 1;
          break;
        }
      }
      n = keep;  // >= 1: the cut bin is not empty, and it holds the max when nothing is above it
      candidates_.resize(n);
      probabilities_.resize(n);
    }
  }

  // ---- 6. Min-p: p >= min_p * p_max is w >= min_p, since the largest weight is exactly 1 and
  // normalization divides both sides by the same total.
  if (p.min_p > 0.0f) {
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
      if (probabilities_[i] >= p.min_p) {
        candidates_[kept] = candidates_[i];
        probabilities_[kept] = probabilities_[i];
        ++kept;
      }
    }
    n = kept;  // >= 1: the max has weight 1 >= min_p, and top-p always keeps it
  }

  // ---- 7. Renormalize and draw: u uniform in [0, total), the first token whose running sum
  // exceeds u. 53 random bits mapped by hand, the same on every standard library.
  total = 0.0;
  for (size_t i = 0; i < n; ++i) total += probabilities_[i];
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += probabilities_[i];
    if (cumulative > u) return candidates_[i];
  }
  return candidates_[n - 1];  // unreachable in exact arithmetic; guards rounding
}

}  // namespace owl
