// registry.h — every supported architecture is one row of options in one table.
//
// The generic decoder reads only these options (through model_config); nothing outside
// registry.cpp asks which architecture it is running. A new family that fits the options is a
// new row; a truly new topology becomes a new option or block, never a fork of the decoder.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace owl {

// Where a layer's q/k/v projection bias comes from.
enum class bias_rule { none, from_config, always };

// How a config's sliding window applies to layers (a `layer_types` list always wins).
enum class window_rule {
  none,          // full causal attention everywhere (a sliding_window key is ignored, as HF does)
  all_layers,    // `sliding_window` (when set) applies to every layer (Mistral)
  qwen_layers,   // `use_sliding_window` and layers >= `max_window_layers` (Qwen2/Qwen3)
  gemma_pattern, // every `sliding_window_pattern`-th layer is global, the others slide (Gemma 3)
  alternating,   // even layers slide, odd layers are global (gpt-oss)
};

enum class norm_kind {
  rms,             // x / rms(x) * w
  rms_one_plus,    // x / rms(x) * (1 + w): Gemma; folded to rms at load
  layer,           // LayerNorm with weight and bias
  layer_one_plus,  // LayerNorm1P, weight + 1 (Nemotron); folded to layer at load
  layer_no_affine, // LayerNorm without parameters (OLMo)
};

enum class qk_norm_rule { none, per_head, whole };  // whole: over all heads at once (OLMo 2)

enum class attention_kind {
  standard,  // q/k/v projections (optionally one fused tensor), GQA/MQA/MHA
  latent,    // multi-head latent attention (DeepSeek V2/V3): the cache holds the compressed latent
};

enum class fused_qkv_rule { none, neox_per_head };  // GPT-NeoX: [heads, 3, head_dim] rows

enum class mlp_rule {
  dense,           // every layer a dense MLP
  mixtral,         // every layer MoE (num_local_experts)
  qwen_moe,        // MoE unless in mlp_only_layers or off the decoder_sparse_step
  deepseek,        // dense for the first `first_k_dense_replace` layers, then MoE with shared experts
  gpt_oss,         // every layer MoE, experts stored fused [experts, in, out] with biases
};

// Tensor names in the checkpoint; "{}" stands for the layer index, "{e}" for the expert.
// ".weight"/".bias" are appended by the loader. An empty name means the model has no such
// tensor. Names map once at load into the canonical weights struct.
struct tensor_names {
  std::string_view embed = "model.embed_tokens";
  std::string_view final_norm = "model.norm";
  std::string_view lm_head = "lm_head";
  // The four places a block may have a norm: before/after attention, before/after the MLP.
  std::string_view attn_pre_norm = "model.layers.{}.input_layernorm";
  std::string_view attn_post_norm = "";
  std::string_view ffn_pre_norm = "model.layers.{}.post_attention_layernorm";
  std::string_view ffn_post_norm = "";
  std::string_view q = "model.layers.{}.self_attn.q_proj";
  std::string_view k = "model.layers.{}.self_attn.k_proj";
  std::string_view v = "model.layers.{}.self_attn.v_proj";
  std::string_view qkv = "";  // fused q/k/v
  std::string_view o = "model.layers.{}.self_attn.o_proj";
  std::string_view q_norm = "model.layers.{}.self_attn.q_norm";
  std::string_view k_norm = "model.layers.{}.self_attn.k_norm";
  std::string_view sinks = "model.layers.{}.self_attn.sinks";
  // Multi-head latent attention.
  std::string_view q_a = "model.layers.{}.self_attn.q_a_proj";
  std::string_view q_a_norm = "model.layers.{}.self_attn.q_a_layernorm";
  std::string_view q_b = "model.layers.{}.self_attn.q_b_proj";
  std::string_view kv_a = "model.layers.{}.self_attn.kv_a_proj_with_mqa";
  std::string_view kv_a_norm = "model.layers.{}.self_attn.kv_a_layernorm";
  std::string_view kv_b = "model.layers.{}.self_attn.kv_b_proj";
  // MLP and experts.
  std::string_view gate = "model.layers.{}.mlp.gate_proj";
  std::string_view up = "model.layers.{}.mlp.up_proj";
  std::string_view down = "model.layers.{}.mlp.down_proj";
  std::string_view router = "model.layers.{}.mlp.gate";
  std::string_view router_bias = "model.layers.{}.mlp.gate.e_score_correction_bias";  // full name
  std::string_view expert_gate = "model.layers.{}.mlp.experts.{e}.gate_proj";
  std::string_view expert_up = "model.layers.{}.mlp.experts.{e}.up_proj";
  std::string_view expert_down = "model.layers.{}.mlp.experts.{e}.down_proj";
  std::string_view shared_gate = "model.layers.{}.mlp.shared_experts.gate_proj";
  std::string_view shared_up = "model.layers.{}.mlp.shared_experts.up_proj";
  std::string_view shared_down = "model.layers.{}.mlp.shared_experts.down_proj";
  // Fused experts (gpt-oss): full tensor names, [experts, in, out] plus [experts, out] biases.
  std::string_view fused_gate_up = "model.layers.{}.mlp.experts.gate_up_proj";
  std::string_view fused_down = "model.layers.{}.mlp.experts.down_proj";
};

struct arch_options {
  // Block topology.
  norm_kind norm = norm_kind::rms;
  bool parallel_residual = false;        // x + attn(ln1(x)) + mlp(ln2(x)) (config may turn it off)
  attention_kind attention = attention_kind::standard;
  fused_qkv_rule fused_qkv = fused_qkv_rule::none;
  bias_rule qkv_bias = bias_rule::from_config;  // config key `attention_bias`
  bool o_bias_from_config = true;               // o_proj bias follows `attention_bias` too
  bias_rule mlp_bias = bias_rule::from_config;  // config key `mlp_bias`
  qk_norm_rule qk_norm = qk_norm_rule::none;
  bool attention_sinks = false;                 // gpt-oss: a learned per-head logit in the softmax
  window_rule sliding_window = window_rule::none;
  bool gated_mlp = true;                        // act(gate(x)) * up(x); else act(up(x))
  mlp_rule mlp = mlp_rule::dense;
  bool embed_scale_sqrt_hidden = false;         // Gemma: embeddings * sqrt(hidden_size)
  bool rope_interleave_default = false;         // rotary pairs (2i, 2i+1) unless the config says
  bool local_rope_base = false;                 // Gemma 3: sliding layers use rope_local_base_freq
  std::string_view default_router_scoring = "softmax";  // when config.json has no scoring_func
  // Config keys that differ between families.
  std::string_view activation_key = "hidden_act";
  std::string_view default_activation = "silu";
  std::string_view eps_key = "rms_norm_eps";
  std::string_view rope_theta_key = "rope_theta";  // "rope_theta" is also accepted
  std::string_view partial_rotary_key = "partial_rotary_factor";
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
