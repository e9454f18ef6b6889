// registry.h — every supported architecture is one row of options in one table.
//
// The generic decoder (decoder.cpp) reads only these options; nothing outside registry.cpp
// asks which architecture it is running. A new family that fits the options is a new row.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace owl {

// Where a layer's q/k/v projection bias comes from.
enum class bias_rule { none, from_config, always };

// How a config's sliding window applies to layers.
enum class window_rule {
  none,         // full causal attention everywhere (a sliding_window key is ignored, as HF does)
  all_layers,   // `sliding_window` (when set) applies to every layer (Mistral)
  qwen_layers,  // `use_sliding_window` and layers >= `max_window_layers` (Qwen2/Qwen3)
};

// Tensor names in the checkpoint; "{}" stands for the layer index. ".weight"/".bias" are
// appended by the loader. Names map once at load into the canonical weights struct.
struct tensor_names {
  std::string_view embed = "model.embed_tokens";
  std::string_view final_norm = "model.norm";
  std::string_view lm_head = "lm_head";
  std::string_view attn_norm = "model.layers.{}.input_layernorm";
  std::string_view ffn_norm = "model.layers.{}.post_attention_layernorm";
  std::string_view q = "model.layers.{}.self_attn.q_proj";
  std::string_view k = "model.layers.{}.self_attn.k_proj";
  std::string_view v = "model.layers.{}.self_attn.v_proj";
  std::string_view o = "model.layers.{}.self_attn.o_proj";
  std::string_view q_norm = "model.layers.{}.self_attn.q_norm";
  std::string_view k_norm = "model.layers.{}.self_attn.k_norm";
  std::string_view gate = "model.layers.{}.mlp.gate_proj";
  std::string_view up = "model.layers.{}.mlp.up_proj";
  std::string_view down = "model.layers.{}.mlp.down_proj";
};

struct arch_options {
  bias_rule qkv_bias = bias_rule::from_config;  // config key `attention_bias`
  bool o_bias_from_config = true;               // o_proj bias follows `attention_bias` too
  bool qk_norm = false;                         // per-head RMSNorm of q and k before rope
  window_rule sliding_window = window_rule::none;
};

struct arch_row {
  std::string_view hf_name;  // config.json "architectures"[0]
  arch_options options;
  tensor_names names;
};

// The table. Lookup failure is an owl::error listing what is supported.
const arch_row& find_arch(std::string_view hf_name, const std::string& where);
std::span<const arch_row> all_archs();

}  // namespace owl
