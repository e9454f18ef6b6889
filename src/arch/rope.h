// rope.h — rotary position embedding frequencies, with the hub's scaling schemes folded in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/model_config.h"

namespace owl {

// Inverse frequencies [rotary_dim / 2] for a sequence of `seq_len` tokens (only the dynamic
// NTK scheme depends on it). Computed the way transformers computes them.
std::vector<float> rope_inv_freq(const rope_config& rope, int64_t seq_len);

// Checks per-pair frequency divisors against `rope` (exactly rotary_dim / 2 finite positive
// values) and stores them in rope.freq_factors. `where` names their source in errors.
void set_rope_freq_factors(rope_config& rope, std::vector<float> factors, const std::string& where);

// cos/sin tables [n, rotary_dim / 2] for positions first, first + 1, ..., first + n - 1, both
// multiplied by attention_factor (YaRN's temperature; 1 otherwise).
void rope_tables(const std::vector<float>& inv_freq, double attention_factor, int64_t first, int64_t n,
                 std::vector<float>& cos, std::vector<float>& sin);

}  // namespace owl
