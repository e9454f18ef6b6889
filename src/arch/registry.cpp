#include "arch/registry.h"

#include <array>

#include "owl/error.h"

namespace owl {
namespace {

// --- Llama family -------------------------------------------------------------------------
constexpr arch_options llama_options{};
constexpr arch_options mistral_options{.sliding_window = window_rule::all_layers};
// Qwen2 always has q/k/v bias (and never o bias); Qwen3 swaps the bias for q/k RMSNorm.
constexpr arch_options qwen2_options{
    .qkv_bias = bias_rule::always, .o_bias_from_config = false, .sliding_window = window_rule::qwen_layers};
constexpr arch_options qwen3_options{.qk_norm = qk_norm_rule::per_head, .sliding_window = window_rule::qwen_layers};

// --- Pythia (GPT-NeoX): LayerNorm with bias, fused per-head q/k/v, parallel residual, gelu ---
constexpr arch_options gpt_neox_options{
    .norm = norm_kind::layer,
    .parallel_residual = true,
    .fused_qkv = fused_qkv_rule::neox_per_head,
    .mlp_bias = bias_rule::always,
    .gated_mlp = false,
    .default_activation = "gelu",
    .eps_key = "layer_norm_eps",
    .rope_theta_key = "rotary_emb_base",
    .partial_rotary_key = "rotary_pct",
};
constexpr tensor_names gpt_neox_names{
    .embed = "gpt_neox.embed_in",
    .final_norm = "gpt_neox.final_layer_norm",
    .lm_head = "embed_out",
    .attn_pre_norm = "gpt_neox.layers.{}.input_layernorm",
    .ffn_pre_norm = "gpt_neox.layers.{}.post_attention_layernorm",
    .qkv = "gpt_neox.layers.{}.attention.query_key_value",
    .o = "gpt_neox.layers.{}.attention.dense",
    .up = "gpt_neox.layers.{}.mlp.dense_h_to_4h",
    .down = "gpt_neox.layers.{}.mlp.dense_4h_to_h",
};

// --- OLMo: parameter-free LayerNorm; OLMo 2: norms after attention/MLP, q/k norm over all heads
// OLMo's LayerNorm has a fixed eps of 1e-5 whatever the config says (no eps key).
constexpr arch_options olmo_options{.norm = norm_kind::layer_no_affine, .eps_key = ""};
constexpr arch_options olmo2_options{.qk_norm = qk_norm_rule::whole};
constexpr tensor_names olmo2_names{
    .attn_pre_norm = "",
    .attn_post_norm = "model.layers.{}.post_attention_layernorm",
    .ffn_pre_norm = "",
    .ffn_post_norm = "model.layers.{}.post_feedforward_layernorm",
};

// --- Nemotron: LayerNorm1P, squared-ReLU MLP without gate ------------------------------------
constexpr arch_options nemotron_options{
    .norm = norm_kind::layer_one_plus, .gated_mlp = false, .default_activation = "relu2", .eps_key = "norm_eps"};

// --- Mixture of experts ----------------------------------------------------------------------
constexpr arch_options mixtral_options{.sliding_window = window_rule::all_layers, .mlp = mlp_rule::mixtral};
constexpr tensor_names mixtral_names{
    .router = "model.layers.{}.block_sparse_moe.gate",
    .expert_gate = "model.layers.{}.block_sparse_moe.experts.{e}.w1",
    .expert_up = "model.layers.{}.block_sparse_moe.experts.{e}.w3",
    .expert_down = "model.layers.{}.block_sparse_moe.experts.{e}.w2",
};
constexpr arch_options qwen3_moe_options{
    .qk_norm = qk_norm_rule::per_head, .sliding_window = window_rule::qwen_layers, .mlp = mlp_rule::qwen_moe};

// --- DeepSeek V2/V3: multi-head latent attention, shared + routed experts --------------------
constexpr arch_options deepseek_v2_options{
    .attention = attention_kind::latent, .mlp = mlp_rule::deepseek, .rope_interleave_default = true};
// V3's router is always sigmoid scores with the correction bias (noaux_tc), config or not.
constexpr arch_options deepseek_v3_options{.attention = attention_kind::latent,
                                           .mlp = mlp_rule::deepseek,
                                           .rope_interleave_default = true,
                                           .default_router_scoring = "sigmoid"};

// --- Gemma 3 (text): (1+w) RMSNorm around both blocks, GeGLU, local/global layers -------------
constexpr arch_options gemma3_options{
    .norm = norm_kind::rms_one_plus,
    .qk_norm = qk_norm_rule::per_head,
    .sliding_window = window_rule::gemma_pattern,
    .embed_scale_sqrt_hidden = true,
    .local_rope_base = true,
    .activation_key = "hidden_activation",
    .default_activation = "gelu_pytorch_tanh",
};
constexpr tensor_names gemma3_names{
    .attn_post_norm = "model.layers.{}.post_attention_layernorm",
    .ffn_pre_norm = "model.layers.{}.pre_feedforward_layernorm",
    .ffn_post_norm = "model.layers.{}.post_feedforward_layernorm",
};

// --- gpt-oss: attention sinks, alternating windows, fused experts with clamped SwiGLU --------
constexpr arch_options gpt_oss_options{
    .attention_sinks = true, .sliding_window = window_rule::alternating, .mlp = mlp_rule::gpt_oss,
    .default_activation = "swiglu_oai"};
constexpr tensor_names gpt_oss_names{
    .router = "model.layers.{}.mlp.router",
};

const std::array<arch_row, 14> arch_table{{
    {"LlamaForCausalLM", llama_options, {}},  // Llama 2/3.x, Hermes, TinyLlama, SmolLM, stories
    {"MistralForCausalLM", mistral_options, {}},
    {"Qwen2ForCausalLM", qwen2_options, {}},
    {"Qwen3ForCausalLM", qwen3_options, {}},
    {"GPTNeoXForCausalLM", gpt_neox_options, gpt_neox_names},
    {"OlmoForCausalLM", olmo_options, {}},
    {"Olmo2ForCausalLM", olmo2_options, olmo2_names},
    {"NemotronForCausalLM", nemotron_options, {}},
    {"MixtralForCausalLM", mixtral_options, mixtral_names},
    {"Qwen3MoeForCausalLM", qwen3_moe_options, {}},
    {"DeepseekV2ForCausalLM", deepseek_v2_options, {}},
    {"DeepseekV3ForCausalLM", deepseek_v3_options, {}},
    {"Gemma3ForCausalLM", gemma3_options, gemma3_names},
    {"GptOssForCausalLM", gpt_oss_options, gpt_oss_names},
}};

}  // namespace

std::span<const arch_row> all_archs() { return arch_table; }

const arch_row& find_arch(std::string_view hf_name, const std::string& where) {
  for (const auto& row : all_archs())
    if (row.hf_name == hf_name) return row;
  std::string supported;
  for (const auto& row : all_archs()) supported += (supported.empty() ? "" : ", ") + std::string(row.hf_name);
  fail(where, "unsupported architecture '" + std::string(hf_name) + "'", "owl supports " + supported);
}

}  // namespace owl
