// model_config.h — config.json, read once into the numbers and switches the decoder needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "backend/backend.h"

namespace owl {

enum class rope_kind { standard, linear, dynamic, llama3, yarn };

struct rope_config {
  rope_kind kind = rope_kind::standard;
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;        // llama3
  double high_freq_factor = 4.0;       // llama3
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn
  bool truncate = true;                // yarn: round the correction range to whole dims
  double attention_factor = 1.0;       // yarn: multiplies cos and sin
  int64_t original_max_positions = 0;  // llama3 / dynamic / yarn
  int64_t rotary_dim = 0;              // dims of each head that rotate (head_dim unless partial)
  // Per-pair divisors of the frequencies, [rotary_dim / 2] or empty: how llama.cpp's GGUF files
  // carry Llama 3.1's scaling (tensor rope_freqs.weight). Applied after `kind`, as llama.cpp does.
  std::vector<float> freq_factors;
};

enum class router_scoring { softmax, sigmoid };

struct moe_config {
  int64_t experts = 0;               // routed experts (0: no MoE anywhere)
  int64_t top_k = 0;
  int64_t expert_intermediate = 0;
  int64_t shared_intermediate = 0;   // 0: no shared expert
  router_scoring scoring = router_scoring::softmax;
  bool normalize_top_k = false;      // renormalize the chosen weights to sum 1
  double scaling = 1.0;              // routed_scaling_factor
  int64_t groups = 1, top_groups = 1;  // group-limited routing
  bool group_score_top2_sum = false; // DeepSeek V3: a group scores the sum of its best two
  bool correction_bias = false;      // DeepSeek V3: e_score_correction_bias steers the choice
  bool router_bias = false;          // gpt-oss: the router linear layer has a bias
  bool expert_bias = false;          // gpt-oss: expert projections have biases
};

struct mla_config {
  int64_t q_lora_rank = 0;  // 0: q comes straight from q_proj
  int64_t kv_lora_rank = 0;
  int64_t nope_dim = 0;     // per-head query/key dims without rope
  int64_t rope_dim = 0;     // per-head dims with rope (one key part shared by all heads)
  int64_t v_dim = 0;
};

struct layer_config {
  int64_t window = 0;     // 0 = full attention, else the sliding window size
  int rope_index = 0;     // which of model_config::ropes this layer uses
  bool moe = false;       // a mixture-of-experts MLP instead of the dense one
};

struct model_config {
  const arch_row* arch = nullptr;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;       // query/key head size (MLA: nope_dim + rope_dim)
  int64_t v_head_dim = 0;     // value head size (equal to head_dim except for MLA)
  int64_t vocab_size = 0;
  int64_t max_positions = 0;
  double norm_eps = 1e-6;
  std::vector<rope_config> ropes;  // [0] global; [1] local layers' base when the model has one
  bool rope_interleave = false;    // weights are permuted at load into rotate-half layout
  bool parallel_residual = false;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  double clip_qkv = 0;             // 0: off
  double attention_scale = 0;      // softmax scale of q.k
  double attn_softcap = 0;         // 0: off
  double final_softcap = 0;        // 0: off
  double embed_scale = 1.0;
  activation_config activation;
  moe_config moe;
  mla_config mla;
  std::vector<layer_config> layer;
  std::optional<int32_t> bos_id;
  std::vector<int32_t> eos_ids;
};

// Parses a config.json object. `source` names the file in errors. Anything owl cannot honour
// (an unknown rope type, an unknown activation or routing method) is an owl::error naming the
// key — never a silently different model.
model_config parse_model_config(const nlohmann::json& config, const std::string& source);

// eos_token_id may be an integer or a list of integers.
std::vector<int32_t> parse_token_id_list(const nlohmann::json& value, const std::string& where);

}  // namespace owl
