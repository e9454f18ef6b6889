// decoder.h — the one forward-pass engine: a pre-norm transformer decoder driven by the
// options of a registry row. Architectures differ only through model_config/arch_options.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "arch/model_config.h"
#include "arch/weights.h"
#include "backend/backend.h"
#include "owl/model.h"

namespace owl {

// Everything a loaded model shares between sessions (read-only after load).
struct decoder_model_state {
  model_config config;
  std::unique_ptr<weight_store> store;  // owns the mmap the weights point into
  model_weights weights;
  std::unique_ptr<backend> compute;
  model_info info;
  generation_defaults defaults;
};

class decoder_session final : public session {
 public:
  decoder_session(std::shared_ptr<const decoder_model_state> model, int64_t capacity);
  std::span<const float> forward(std::span<const int32_t> tokens, bool all_logits) override;
  int64_t n_past() const override { return n_past_; }
  int64_t capacity() const override { return capacity_; }
  void reset() override { n_past_ = 0; }

 private:
  // Runs one chunk of tokens through every layer; writes logits for the rows asked for.
  void forward_chunk(std::span<const int32_t> tokens, bool all_logits, float* logits);
  void attention_block(int64_t layer, int64_t n);
  void mlp_block(int64_t layer, int64_t n);

  std::shared_ptr<const decoder_model_state> model_;
  const model_config& config_;
  backend& compute_;
  int64_t capacity_;
  int64_t n_past_ = 0;

  // KV cache: per layer [capacity, kv_heads, head_dim], float32.
  std::vector<std::vector<float>> k_cache_, v_cache_;
  // Activations of the current chunk (sizes for the chunk length n):
  std::vector<float> x_;       // [n, hidden] residual stream
  std::vector<float> normed_;  // [n, hidden]
  std::vector<float> q_;       // [n, heads, head_dim]
  std::vector<float> k_, v_;   // [n, kv_heads, head_dim]
  std::vector<float> attn_;    // [n, heads, head_dim]
  std::vector<float> proj_;    // [n, hidden]
  std::vector<float> gate_, up_;  // [n, intermediate]
  std::vector<float> cos_, sin_;  // [n, rotary_dim / 2]
  std::vector<float> logits_;  // [n or 1, vocab]
};

}  // namespace owl
