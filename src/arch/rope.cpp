#include "arch/rope.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "owl/error.h"

namespace owl {
namespace {

// llama.cpp's per-pair factors: theta_i = pos * inv_freq_i / f_i. Dividing in double and rounding
// once adds no error to the stored divisor's own: with the factors llama.cpp's converter writes
// (rounded in float32) Llama 3.1's frequencies land within about two ulps of transformers' llama3
// ones, which multiply by the blend instead of dividing by its stored reciprocal.
void apply_freq_factors(const rope_config& rope, std::vector<float>& inv_freq) {
  if (rope.freq_factors.empty()) return;
  if (rope.freq_factors.size() != inv_freq.size())  // set_rope_freq_factors checked it; a bug otherwise
    fail("rope", std::to_string(rope.freq_factors.size()) + " frequency factors for " + std::to_string(inv_freq.size()) +
                     " rotary pairs");
  for (size_t i = 0; i < inv_freq.size(); ++i)
    inv_freq[i] = float(double(inv_freq[i]) / double(rope.freq_factors[i]));
}

std::string short_number(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", double(v));
  return text;
}

}  // namespace

std::vector<float> rope_inv_freq(const rope_config& rope, int64_t seq_len) {
  const int64_t dim = rope.rotary_dim;
  double base = rope.theta;
  if (rope.kind == rope_kind::dynamic && seq_len > rope.original_max_positions) {
    // NTK-aware: grow the base once the sequence passes the trained context.
    double scale = rope.factor * double(seq_len) / double(rope.original_max_positions) - (rope.factor - 1.0);
    base *= std::pow(scale, double(dim) / double(dim - 2));
  }
  std::vector<float> inv_freq(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
    float exponent = float(2 * i) / float(dim);
    inv_freq[size_t(i)] = float(1.0 / std::pow(base, double(exponent)));
  }
  if (rope.kind == rope_kind::linear) {
    for (float& f : inv_freq) f = float(f / rope.factor);
  } else if (rope.kind == rope_kind::yarn) {
    // YaRN: interpolate the low frequencies (divide by factor), keep the high ones, and ramp
    // linearly between the dims that rotate beta_fast and beta_slow times over the old context.
    auto correction_dim = [&](double rotations) {
      return double(dim) * std::log(double(rope.original_max_positions) / (rotations * 2.0 * std::numbers::pi)) /
             (2.0 * std::log(base));
    };
    double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
    if (rope.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < dim / 2; ++i) {
      const float extrapolation = inv_freq[size_t(i)];
      const float interpolation = float(1.0 / (rope.factor * (1.0 / double(extrapolation))));
      const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      const double keep = 1.0 - ramp;  // share of the unscaled frequency
      inv_freq[size_t(i)] = float(interpolation * (1.0 - keep) + extrapolation * keep);
    }
  } else if (rope.kind == rope_kind::llama3) {
    // Llama 3.1: keep high frequencies, divide low ones by factor, blend in between.
    const double old_context = double(rope.original_max_positions);
    const double low_freq_wavelen = old_context / rope.low_freq_factor;
    const double high_freq_wavelen = old_context / rope.high_freq_factor;
    for (float& f : inv_freq) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f = float(f / rope.factor);
      } else if (wavelen >= high_freq_wavelen) {
        double smooth = (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
        f = float((1.0 - smooth) * f / rope.factor + smooth * f);
      }
    }
  }
  apply_freq_factors(rope, inv_freq);
  return inv_freq;
}

void set_rope_freq_factors(rope_config& rope, std::vector<float> factors, const std::string& where) {
  const size_t pairs = size_t(rope.rotary_dim / 2);
  if (factors.size() != pairs)
    fail(where, "expected " + std::to_string(pairs) + " factors (rotary_dim / 2), found " + std::to_string(factors.size()),
         "one divisor per rotated pair of each head; the file's rotary dimension is " + std::to_string(rope.rotary_dim));
  for (size_t i = 0; i < factors.size(); ++i)
    if (!std::isfinite(factors[i]) || factors[i] <= 0)
      fail(where, "expected finite positive divisors, found " + short_number(factors[i]) + " at index " + std::to_string(i),
           "the file is damaged; convert the model again");
  rope.freq_factors = std::move(factors);
}

void rope_tables(const std::vector<float>& inv_freq, double attention_factor, int64_t first, int64_t n,
                 std::vector<float>& cos, std::vector<float>& sin) {
  const size_t half = inv_freq.size();
  cos.resize(size_t(n) * half);
  sin.resize(size_t(n) * half);
  for (int64_t t = 0; t < n; ++t) {
    const float position = float(first + t);
    for (size_t i = 0; i < half; ++i) {
      // The angle is rounded to float32 as in transformers; cos/sin of it are then exact.
      const float angle = position * inv_freq[i];
      cos[size_t(t) * half + i] = float(std::cos(double(angle)) * attention_factor);
      sin[size_t(t) * half + i] = float(std::sin(double(angle)) * attention_factor);
    }
  }
}

}  // namespace owl
