// gguf_arch_map.h — which llama.cpp architecture, metadata keys and tensor names stand for each
// Hugging Face model class owl runs. The tensor layouts (permutations, folded norms, stacked
// experts) are converted in gguf_layout.cpp; this file only names things.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace owl {

class gguf_file;
class gguf_writer;
struct model_config;

// Layout differences between the Hugging Face checkpoint and llama.cpp's file.
enum class gguf_family {
  plain,       // names differ, layouts do not
  gpt_neox,    // fused q/k/v rows reordered from [heads, 3, head_dim] to [3, heads, head_dim]
  deepseek2,   // kv_b split into attn_k_b (transposed per head) and attn_v_b
  gpt_oss,     // fused [experts, in, 2 * inter] gate/up split into ffn_gate_exps/ffn_up_exps
};

struct gguf_arch {
  std::string_view hf_name;
  std::string_view gguf_name;
  gguf_family family = gguf_family::plain;
  bool interleaved_qk = false;  // llama.cpp "normal" rope: rotary pairs adjacent in q/k rows
  bool norm_plus_one = false;   // the file stores (1 + w) norms (Gemma 3, Nemotron LayerNorm1P)
  bool layer_norm = false;      // eps under attention.layer_norm_epsilon (LayerNorm models)
};

// Throws (naming `where`) for a class without a mapping.
const gguf_arch& gguf_arch_for_hf(std::string_view hf_name, const std::string& where);
// The class a file holds: general.architecture, and for names llama.cpp shares between classes
// ("llama", "deepseek2") the keys that tell them apart.
const gguf_arch& gguf_arch_for_file(const gguf_file& file);

// Tensor names; nullopt for a name without a counterpart. Expert tensors are separate: one
// stacked GGUF tensor holds every expert of a layer.
std::optional<std::string> gguf_tensor_name(const gguf_arch& arch, std::string_view hf_name);
std::optional<std::string> hf_tensor_name(const gguf_arch& arch, std::string_view gguf_name);
struct expert_slot {
  std::string gguf_name;  // the stacked tensor, e.g. "blk.1.ffn_gate_exps.weight"
  int64_t layer = 0, expert = 0;
};
std::optional<expert_slot> gguf_expert_slot(const gguf_arch& arch, std::string_view hf_name);
// The per-expert Hugging Face name for a stacked GGUF tensor; nullopt if it is not one.
std::optional<std::string> hf_expert_name(const gguf_arch& arch, std::string_view gguf_name, int64_t expert);

// Matches `name` against a pattern with one optional "{}" (digits); returns the layer or -1
// for a pattern without one; nullopt when it does not match.
std::optional<int64_t> match_layer_pattern(std::string_view pattern, std::string_view name);

// Model metadata: written from config.json (`raw`) and its parsed form; read back as the
// config.json that gives the same model.
void write_gguf_model_metadata(const gguf_arch& arch, const nlohmann::json& raw, const model_config& config,
                               gguf_writer& writer, const std::string& where);
nlohmann::json read_gguf_model_config(const gguf_arch& arch, const gguf_file& file);

}  // namespace owl
