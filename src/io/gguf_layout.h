// gguf_layout.h — tensors between owl's canonical (Hugging Face) layout and llama.cpp's:
// renamed, and where llama.cpp differs permuted (q/k rope pairs, GPT-NeoX q/k/v), folded
// ((1 + w) norms), stacked (experts) or split (DeepSeek kv_b, gpt-oss gate/up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf_arch_map.h"
#include "owl/convert.h"
#include "owl/safetensors.h"

namespace owl {

class gguf_file;
class gguf_writer;
struct model_config;

// Every tensor of `file` under its Hugging Face name. Tensors that had to be rebuilt live in
// `owned` (keep it alive as long as the views); the rest point into the file. `config` is the
// one read_gguf_model_config gave. Shapes of everything rearranged are checked first.
std::vector<tensor_view> read_gguf_tensors(const gguf_arch& arch, const nlohmann::json& config, const gguf_file& file,
                                           std::vector<std::vector<std::byte>>& owned);

// Every tensor of `store` in llama.cpp's names and layouts.
void write_gguf_tensors(const gguf_arch& arch, const model_config& config, const weight_store& store,
                        const gguf_convert_options& options, gguf_writer& writer);

// Shared with quantize_gguf.
std::optional<dtype> dtype_from_ggml(uint32_t ggml_type);
uint32_t ggml_from_dtype(dtype type);
// What the type of a matrix depends on besides its GGUF name.
struct gguf_type_context {
  int64_t cols = 0;         // elements per row
  int64_t layers = 0;       // block_count
  bool has_output = true;   // false: token_embd doubles as the output layer (tied embeddings)
  int64_t experts = 0;      // routed experts per MoE layer, 0 for a dense model
};
dtype choose_gguf_type(const gguf_convert_options& o, const std::string& gguf_name, const gguf_type_context& c);
std::vector<std::byte> encode_rows(const std::vector<float>& values, int64_t rows, int64_t cols, dtype type);
std::vector<float> decode_rows(const tensor_view& t);

}  // namespace owl
