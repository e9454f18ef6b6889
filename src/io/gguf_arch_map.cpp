#include "io/gguf_arch_map.h"

#include <array>
#include <span>
#include <utility>

#include "io/gguf.h"
#include "owl/error.h"

namespace owl {
namespace {

using name_pair = std::pair<std::string_view, std::string_view>;  // {Hugging Face, GGUF}

// llama.cpp writes Mistral and Mixtral as "llama", DeepSeek V2 and V3 as "deepseek2".
constexpr std::array<gguf_arch, 14> gguf_archs{{
    {"LlamaForCausalLM", "llama", gguf_family::plain, true},
    {"MistralForCausalLM", "llama", gguf_family::plain, true},
    {"MixtralForCausalLM", "llama", gguf_family::plain, true},
    {"Qwen2ForCausalLM", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"},
    {"Qwen3MoeForCausalLM", "qwen3moe"},
    {"GPTNeoXForCausalLM", "gptneox", gguf_family::gpt_neox, false, false, true},
    {"OlmoForCausalLM", "olmo", gguf_family::plain, true, false, true},
    {"Olmo2ForCausalLM", "olmo2"},
    {"NemotronForCausalLM", "nemotron", gguf_family::plain, false, true, true},
    {"DeepseekV2ForCausalLM", "deepseek2", gguf_family::deepseek2},
    {"DeepseekV3ForCausalLM", "deepseek2", gguf_family::deepseek2},
    {"Gemma3ForCausalLM", "gemma3", gguf_family::plain, false, true},
    {"GptOssForCausalLM", "gpt-oss", gguf_family::gpt_oss},
}};

// Names most families share ("{}" is the layer). Biases that a family lacks simply never occur.
constexpr std::array<name_pair, 37> common_names{{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"model.norm.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.{}.input_layernorm.weight", "blk.{}.attn_norm.weight"},
    {"model.layers.{}.input_layernorm.bias", "blk.{}.attn_norm.bias"},
    {"model.layers.{}.post_attention_layernorm.weight", "blk.{}.ffn_norm.weight"},
    {"model.layers.{}.post_attention_layernorm.bias", "blk.{}.ffn_norm.bias"},
    {"model.layers.{}.self_attn.q_proj.weight", "blk.{}.attn_q.weight"},
    {"model.layers.{}.self_attn.q_proj.bias", "blk.{}.attn_q.bias"},
    {"model.layers.{}.self_attn.k_proj.weight", "blk.{}.attn_k.weight"},
    {"model.layers.{}.self_attn.k_proj.bias", "blk.{}.attn_k.bias"},
    {"model.layers.{}.self_attn.v_proj.weight", "blk.{}.attn_v.weight"},
    {"model.layers.{}.self_attn.v_proj.bias", "blk.{}.attn_v.bias"},
    {"model.layers.{}.self_attn.o_proj.weight", "blk.{}.attn_output.weight"},
    {"model.layers.{}.self_attn.o_proj.bias", "blk.{}.attn_output.bias"},
    {"model.layers.{}.self_attn.q_norm.weight", "blk.{}.attn_q_norm.weight"},
    {"model.layers.{}.self_attn.k_norm.weight", "blk.{}.attn_k_norm.weight"},
    {"model.layers.{}.mlp.gate_proj.weight", "blk.{}.ffn_gate.weight"},
    {"model.layers.{}.mlp.gate_proj.bias", "blk.{}.ffn_gate.bias"},
    {"model.layers.{}.mlp.up_proj.weight", "blk.{}.ffn_up.weight"},
    {"model.layers.{}.mlp.up_proj.bias", "blk.{}.ffn_up.bias"},
    {"model.layers.{}.mlp.down_proj.weight", "blk.{}.ffn_down.weight"},
    {"model.layers.{}.mlp.down_proj.bias", "blk.{}.ffn_down.bias"},
    // Mixture of experts: router, DeepSeek V3's selection bias, shared experts.
    {"model.layers.{}.mlp.gate.weight", "blk.{}.ffn_gate_inp.weight"},
    {"model.layers.{}.mlp.gate.e_score_correction_bias", "blk.{}.exp_probs_b.bias"},
    {"model.layers.{}.mlp.shared_experts.gate_proj.weight", "blk.{}.ffn_gate_shexp.weight"},
    {"model.layers.{}.mlp.shared_experts.up_proj.weight", "blk.{}.ffn_up_shexp.weight"},
    {"model.layers.{}.mlp.shared_experts.down_proj.weight", "blk.{}.ffn_down_shexp.weight"},
    // Multi-head latent attention. kv_b is written split (attn_k_b/attn_v_b, see gguf_layout.cpp);
    // attn_kv_b is what older llama.cpp files hold.
    {"model.layers.{}.self_attn.q_a_proj.weight", "blk.{}.attn_q_a.weight"},
    {"model.layers.{}.self_attn.q_a_layernorm.weight", "blk.{}.attn_q_a_norm.weight"},
    {"model.layers.{}.self_attn.q_b_proj.weight", "blk.{}.attn_q_b.weight"},
    {"model.layers.{}.self_attn.kv_a_proj_with_mqa.weight", "blk.{}.attn_kv_a_mqa.weight"},
    {"model.layers.{}.self_attn.kv_a_layernorm.weight", "blk.{}.attn_kv_a_norm.weight"},
    {"model.layers.{}.self_attn.kv_b_proj.weight", "blk.{}.attn_kv_b.weight"},
    // gpt-oss: the learned softmax sink per head (llama.cpp adds the ".weight").
    {"model.layers.{}.self_attn.sinks", "blk.{}.attn_sinks.weight"},
    {"model.layers.{}.post_feedforward_layernorm.weight", "blk.{}.post_ffw_norm.weight"},
}};

// Families whose norms sit after the blocks: llama.cpp calls Hugging Face's
// post_attention_layernorm "post_attention_norm" there (gpt-oss too, where it precedes the MLP,
// see gpt_oss_names).
constexpr std::array<name_pair, 2> post_norm_names{{
    {"model.layers.{}.post_attention_layernorm.weight", "blk.{}.post_attention_norm.weight"},
    {"model.layers.{}.pre_feedforward_layernorm.weight", "blk.{}.ffn_norm.weight"},  // Gemma 3
}};

// The routers of Mixtral and gpt-oss have their own Hugging Face names.
constexpr std::array<name_pair, 1> mixtral_names{{
    {"model.layers.{}.block_sparse_moe.gate.weight", "blk.{}.ffn_gate_inp.weight"},
}};
constexpr std::array<name_pair, 4> gpt_oss_names{{
    {"model.layers.{}.post_attention_layernorm.weight", "blk.{}.post_attention_norm.weight"},
    {"model.layers.{}.mlp.router.weight", "blk.{}.ffn_gate_inp.weight"},
    {"model.layers.{}.mlp.router.bias", "blk.{}.ffn_gate_inp.bias"},
    {"model.layers.{}.mlp.experts.down_proj_bias", "blk.{}.ffn_down_exps.bias"},
}};

constexpr std::array<name_pair, 16> gpt_neox_names{{
    {"gpt_neox.embed_in.weight", "token_embd.weight"},
    {"gpt_neox.final_layer_norm.weight", "output_norm.weight"},
    {"gpt_neox.final_layer_norm.bias", "output_norm.bias"},
    {"embed_out.weight", "output.weight"},
    {"gpt_neox.layers.{}.input_layernorm.weight", "blk.{}.attn_norm.weight"},
    {"gpt_neox.layers.{}.input_layernorm.bias", "blk.{}.attn_norm.bias"},
    {"gpt_neox.layers.{}.post_attention_layernorm.weight", "blk.{}.ffn_norm.weight"},
    {"gpt_neox.layers.{}.post_attention_layernorm.bias", "blk.{}.ffn_norm.bias"},
    {"gpt_neox.layers.{}.attention.query_key_value.weight", "blk.{}.attn_qkv.weight"},
    {"gpt_neox.layers.{}.attention.query_key_value.bias", "blk.{}.attn_qkv.bias"},
    {"gpt_neox.layers.{}.attention.dense.weight", "blk.{}.attn_output.weight"},
    {"gpt_neox.layers.{}.attention.dense.bias", "blk.{}.attn_output.bias"},
    {"gpt_neox.layers.{}.mlp.dense_h_to_4h.weight", "blk.{}.ffn_up.weight"},
    {"gpt_neox.layers.{}.mlp.dense_h_to_4h.bias", "blk.{}.ffn_up.bias"},
    {"gpt_neox.layers.{}.mlp.dense_4h_to_h.weight", "blk.{}.ffn_down.weight"},
    {"gpt_neox.layers.{}.mlp.dense_4h_to_h.bias", "blk.{}.ffn_down.bias"},
}};

// Per-expert tensors stacked into one [experts, rows, cols] tensor; "{e}" is the expert.
constexpr std::array<name_pair, 3> expert_names{{
    {"model.layers.{}.mlp.experts.{e}.gate_proj.weight", "blk.{}.ffn_gate_exps.weight"},
    {"model.layers.{}.mlp.experts.{e}.up_proj.weight", "blk.{}.ffn_up_exps.weight"},
    {"model.layers.{}.mlp.experts.{e}.down_proj.weight", "blk.{}.ffn_down_exps.weight"},
}};
constexpr std::array<name_pair, 3> mixtral_expert_names{{
    {"model.layers.{}.block_sparse_moe.experts.{e}.w1.weight", "blk.{}.ffn_gate_exps.weight"},
    {"model.layers.{}.block_sparse_moe.experts.{e}.w3.weight", "blk.{}.ffn_up_exps.weight"},
    {"model.layers.{}.block_sparse_moe.experts.{e}.w2.weight", "blk.{}.ffn_down_exps.weight"},
}};

std::span<const name_pair> family_names(const gguf_arch& arch) {
  if (arch.family == gguf_family::gpt_neox) return gpt_neox_names;
  // gpt-oss's down bias is the same [experts, hidden] array; its other expert tensors are split
  // or transposed in gguf_layout.cpp.
  if (arch.family == gguf_family::gpt_oss) return gpt_oss_names;
  if (arch.hf_name == "MixtralForCausalLM") return mixtral_names;
  if (arch.hf_name == "Olmo2ForCausalLM" || arch.hf_name == "Gemma3ForCausalLM") return post_norm_names;
  return {};
}

std::span<const name_pair> family_expert_names(const gguf_arch& arch) {
  if (arch.hf_name == "MixtralForCausalLM") return mixtral_expert_names;
  if (arch.family == gguf_family::gpt_oss) return {};  // fused, converted in gguf_layout.cpp
  return expert_names;
}

std::string fill(std::string_view pattern, int64_t layer) {
  std::string out(pattern);
  if (const size_t at = out.find("{}"); at != std::string::npos) out.replace(at, 2, std::to_string(layer));
  return out;
}

// Maps through the family table, then the common one; from 0 = HF, 1 = GGUF.
std::optional<std::string> map_name(const gguf_arch& arch, std::string_view name, int from) {
  for (std::span<const name_pair> table : {family_names(arch), std::span<const name_pair>(common_names)})
    for (const auto& [hf, gguf] : table)
      if (auto layer = match_layer_pattern(from == 0 ? hf : gguf, name)) return fill(from == 0 ? gguf : hf, *layer);
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> match_layer_pattern(std::string_view pattern, std::string_view name) {
  const size_t hole = pattern.find("{}");
  if (hole == std::string_view::npos) return pattern == name ? std::optional<int64_t>(-1) : std::nullopt;
  const std::string_view prefix = pattern.substr(0, hole), suffix = pattern.substr(hole + 2);
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  int64_t layer = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    layer = layer * 10 + (c - '0');
  }
  return layer;
}

const gguf_arch& gguf_arch_for_hf(std::string_view hf_name, const std::string& where) {
  for (const auto& a : gguf_archs)
    if (a.hf_name == hf_name) return a;
  std::string known;
  for (const auto& a : gguf_archs) known += (known.empty() ? "" : ", ") + std::string(a.hf_name);
  fail(where, "no GGUF mapping for architecture '" + std::string(hf_name) + "'", "owl writes and reads GGUF for " + known);
}

const gguf_arch& gguf_arch_for_file(const gguf_file& file) {
  const gguf_metadata_reader& meta = file.reader();
  const std::string& name = meta.get_string("general.architecture");
  std::string_view hf;
  if (name == "llama") {
    // Mixtral's experts and Mistral's sliding window (which llama.cpp ignores) tell them apart.
    hf = meta.find("llama.expert_count") ? "MixtralForCausalLM"
         : meta.find("llama.attention.sliding_window") ? "MistralForCausalLM"
                                                        : "LlamaForCausalLM";
  } else if (name == "deepseek2") {
    // V3 routes by sigmoid scores (expert_gating_func 2); V2 by softmax.
    hf = meta.find_u64("deepseek2.expert_gating_func").value_or(1) == 2 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM";
  } else {
    for (const auto& a : gguf_archs)
      if (a.gguf_name == name) hf = a.hf_name;
  }
  if (hf.empty()) {
    std::string known;
    for (const auto& a : gguf_archs)
      if (known.find(std::string(a.gguf_name) + ",") == std::string::npos) known += std::string(a.gguf_name) + ", ";
    fail(meta.where("general.architecture"), "unsupported GGUF architecture '" + name + "'",
         "owl reads GGUF models of the architectures " + known.substr(0, known.size() - 2));
  }
  return gguf_arch_for_hf(hf, file.path().string());
}

std::optional<std::string> gguf_tensor_name(const gguf_arch& arch, std::string_view hf_name) {
  return map_name(arch, hf_name, 0);
}

std::optional<std::string> hf_tensor_name(const gguf_arch& arch, std::string_view gguf_name) {
  return map_name(arch, gguf_name, 1);
}

std::optional<expert_slot> gguf_expert_slot(const gguf_arch& arch, std::string_view hf_name) {
  for (const auto& [hf, gguf] : family_expert_names(arch)) {
    // Two holes: the layer, then the expert. Split the pattern at "{e}" and match each side.
    const size_t e_at = hf.find("{e}");
    const std::string_view head = hf.substr(0, e_at), tail = hf.substr(e_at + 3);
    if (!hf_name.ends_with(tail)) continue;
    const std::string_view rest = hf_name.substr(0, hf_name.size() - tail.size());
    const size_t dot = rest.rfind('.');
    if (dot == std::string_view::npos) continue;
    const auto layer = match_layer_pattern(head, rest.substr(0, dot + 1));
    const auto expert = match_layer_pattern("{}", rest.substr(dot + 1));
    if (layer && expert && *layer >= 0) return expert_slot{fill(gguf, *layer), *layer, *expert};
  }
  return std::nullopt;
}

std::optional<std::string> hf_expert_name(const gguf_arch& arch, std::string_view gguf_name, int64_t expert) {
  for (const auto& [hf, gguf] : family_expert_names(arch))
    if (auto layer = match_layer_pattern(gguf, gguf_name)) {
      std::string out = fill(hf, *layer);
      out.replace(out.find("{e}"), 3, std::to_string(expert));
      return out;
    }
  return std::nullopt;
}

}  // namespace owl
