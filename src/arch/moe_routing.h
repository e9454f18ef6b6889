// moe_routing.h — choosing experts for one token from its router logits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "arch/model_config.h"

namespace owl {

struct expert_choice {
  std::vector<int32_t> experts;  // [top_k] expert indices
  std::vector<float> weights;    // [top_k] mixing weights (routed_scaling_factor applied)
};

// Softmax or sigmoid scores, optional group limiting and correction bias, top-k, optional
// renormalization and scaling — as transformers' Mixtral, Qwen3-MoE, DeepSeek V2/V3 and
// gpt-oss routers compute them. `logits` is [experts]; `correction_bias` is empty or [experts].
void route_token(const moe_config& moe, std::span<const float> logits, std::span<const float> correction_bias,
                 expert_choice& choice);

}  // namespace owl
