// owl/sampler.h — turning logits into the next token.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace owl {

struct sampling_params {
  float temperature = 1.0f;         // 0 = greedy (argmax; ties go to the lowest id)
  int top_k = 0;                    // 0 = off
  float top_p = 1.0f;               // 1 = off
  float min_p = 0.0f;               // 0 = off; keeps tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // 1 = off; HF/CTRL style: logit>0 ? logit/r : logit*r
  float frequency_penalty = 0.0f;   // OpenAI style: -= count * f
  float presence_penalty = 0.0f;    // OpenAI style: -= (count > 0) * p
  uint64_t seed = 0;                // same seed, same output
};

class sampler {
 public:
  sampler(const sampling_params& params, size_t vocab_size);
  // logits: [vocab_size], modified in place. history: the tokens seen so far (prompt and
  // generated) that the penalties count. Returns the sampled token id.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);
  const sampling_params& params() const { return params_; }

 private:
  sampling_params params_;
  size_t vocab_size_;
  std::mt19937_64 rng_;
  std::vector<int32_t> candidates_;   // scratch, reused between calls
  std::vector<float> probabilities_;  // scratch
  std::vector<uint32_t> counts_;      // scratch
};

}  // namespace owl
