// model_config.h — config.json, read once into the numbers the decoder needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/registry.h"

namespace owl {

enum class rope_kind { standard, linear, dynamic, llama3 };

struct rope_config {
  rope_kind kind = rope_kind::standard;
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;      // llama3
  double high_freq_factor = 4.0;     // llama3
  int64_t original_max_positions = 0;  // llama3 / dynamic
  int64_t rotary_dim = 0;            // dims of each head that rotate (head_dim unless partial)
};

struct model_config {
  const arch_row* arch = nullptr;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;
  double norm_eps = 1e-6;
  rope_config rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  std::vector<int64_t> layer_window;  // per layer: 0 = full attention, else the window size
  std::optional<int32_t> bos_id;
  std::vector<int32_t> eos_ids;
};

// Parses a config.json object. `source` names the file in errors. Anything owl cannot honour
// (an unknown rope type, an activation other than the architecture's) is an owl::error naming
// the key — never a silently different model.
model_config parse_model_config(const nlohmann::json& config, const std::string& source);

// eos_token_id may be an integer or a list of integers.
std::vector<int32_t> parse_token_id_list(const nlohmann::json& value, const std::string& where);

}  // namespace owl
