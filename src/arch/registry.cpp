#include "arch/registry.h"

#include <array>

#include "owl/error.h"

namespace owl {
namespace {

// Qwen2 always has q/k/v bias (and never o bias); Qwen3 swaps the bias for q/k RMSNorm.
constexpr arch_options llama_options{};
constexpr arch_options mistral_options{.sliding_window = window_rule::all_layers};
constexpr arch_options qwen2_options{
    .qkv_bias = bias_rule::always, .o_bias_from_config = false, .sliding_window = window_rule::qwen_layers};
constexpr arch_options qwen3_options{.qk_norm = true, .sliding_window = window_rule::qwen_layers};

const std::array<arch_row, 4> arch_table{{
    {"LlamaForCausalLM", llama_options, {}},  // Llama 2/3.x, Hermes, TinyLlama, SmolLM, stories
    {"MistralForCausalLM", mistral_options, {}},
    {"Qwen2ForCausalLM", qwen2_options, {}},
    {"Qwen3ForCausalLM", qwen3_options, {}},
}};

}  // namespace

std::span<const arch_row> all_archs() { return arch_table; }

const arch_row& find_arch(std::string_view hf_name, const std::string& where) {
  for (const auto& row : arch_table)
    if (row.hf_name == hf_name) return row;
  std::string supported;
  for (const auto& row : arch_table) supported += (supported.empty() ? "" : ", ") + std::string(row.hf_name);
  fail(where, "unsupported architecture '" + std::string(hf_name) + "'", "owl supports " + supported);
}

}  // namespace owl
