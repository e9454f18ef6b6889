// A Llama GGUF of any size written straight from bytes (no tokenizer: sessions take token ids,
// `owl bench` draws random tokens) — for tests that need shapes the fixtures lack: hundreds of
// MB for memory, rows of 256 elements and more for the k-quants.
#pragma once

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace owl::test {

struct llama_shape {
  int64_t hidden, ffn, layers, heads, kv_heads, vocab;
};

struct tensor_bytes {
  uint32_t ggml_type;
  std::vector<std::byte> bytes;
};
// The matrix `name` (GGUF name, e.g. "blk.0.ffn_down.weight") of rows x cols.
using matrix_maker = std::function<tensor_bytes(const std::string& name, int64_t rows, int64_t cols)>;

// Norm weights are ones; the output layer is tied to token_embd unless `untied`.
inline void write_synthetic_llama(const std::filesystem::path& path, const llama_shape& s, const matrix_maker& make,
                                  bool untied = false) {
  gguf_writer w;
  w.set("general.architecture", "llama");
  w.set("llama.context_length", uint32_t(256));
  w.set("llama.embedding_length", uint32_t(s.hidden));
  w.set("llama.feed_forward_length", uint32_t(s.ffn));
  w.set("llama.block_count", uint32_t(s.layers));
  w.set("llama.attention.head_count", uint32_t(s.heads));
  w.set("llama.attention.head_count_kv", uint32_t(s.kv_heads));
  w.set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set("llama.rope.freq_base", 10000.0f);
  w.set("llama.rope.dimension_count", uint32_t(s.hidden / s.heads));
  w.set("llama.vocab_size", uint32_t(s.vocab));
  const auto ones = [](int64_t n) {
    std::vector<std::byte> v(size_t(n) * 4);
    const float one = 1.0f;
    for (int64_t i = 0; i < n; ++i) std::memcpy(v.data() + 4 * i, &one, 4);
    return v;
  };
  const auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    tensor_bytes t = make(name, rows, cols);
    w.add_tensor(name, t.ggml_type, {cols, rows}, std::move(t.bytes));
  };
  const int64_t kv = s.hidden / s.heads * s.kv_heads;
  matrix("token_embd.weight", s.vocab, s.hidden);
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    w.add_tensor(b + "attn_norm.weight", ggml_types::f32, {s.hidden}, ones(s.hidden));
    w.add_tensor(b + "ffn_norm.weight", ggml_types::f32, {s.hidden}, ones(s.hidden));
    matrix(b + "attn_q.weight", s.hidden, s.hidden);
    matrix(b + "attn_k.weight", kv, s.hidden);
    matrix(b + "attn_v.weight", kv, s.hidden);
    matrix(b + "attn_output.weight", s.hidden, s.hidden);
    matrix(b + "ffn_gate.weight", s.ffn, s.hidden);
    matrix(b + "ffn_up.weight", s.ffn, s.hidden);
    matrix(b + "ffn_down.weight", s.hidden, s.ffn);
  }
  w.add_tensor("output_norm.weight", ggml_types::f32, {s.hidden}, ones(s.hidden));
  if (untied) matrix("output.weight", s.vocab, s.hidden);
  w.write(path);
}

}  // namespace owl::test
