// decoder.h — the one forward-pass engine: a transformer decoder whose blocks (norm placement,
// attention kind, dense or mixture-of-experts MLP) are chosen by the options of a registry row.
// Architectures differ only through model_config and the normalized weights.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "arch/model_config.h"
#include "arch/moe_routing.h"
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

// Floats of KV cache one token needs in one layer.
int64_t kv_floats_per_token(const model_config& config);

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
  void run_layer(int64_t layer, int64_t n);
  // Blocks read `in` [n, hidden] and write `out` [n, hidden].
  void standard_attention(int64_t layer, int64_t n, const float* in, float* out);
  void latent_attention(int64_t layer, int64_t n, const float* in, float* out);
  void dense_mlp(const mlp_weights& w, int64_t n, const float* in, float* out);
  void moe_mlp(int64_t layer, int64_t n, const float* in, float* out);
  void apply_norm(const norm_weights& norm, const float* x, int64_t n, int64_t dim, float* y);
  // Attention over this layer's cache for q [n, heads, head_dim] -> out [n, heads, v_dim].
  attention_args attention_for(int64_t layer, int64_t n) const;

  std::shared_ptr<const decoder_model_state> model_;
  const model_config& config_;
  backend& compute_;
  int64_t capacity_;
  int64_t n_past_ = 0;

  // KV cache per layer, float32. Standard attention: k and v [capacity, kv_heads, head_dim].
  // Latent attention: k holds [capacity, kv_lora_rank + rope_dim] (normalized latent, then the
  // rotated shared key part); the values are read from the same rows, v stays empty.
  std::vector<std::vector<float>> k_cache_, v_cache_;

  // Activations of the current chunk (sized for the chunk length n):
  std::vector<float> x_;            // [n, hidden] residual stream
  std::vector<float> normed_;       // [n, hidden]
  std::vector<float> block_out_;    // [n, hidden]
  std::vector<float> mlp_out_;      // [n, hidden] (parallel residual)
  std::vector<float> q_, k_, v_;    // projections
  std::vector<float> attn_;         // [n, heads, v_dim]
  std::vector<float> gate_, up_;    // [n, intermediate]
  std::vector<float> latent_q_;     // [n, heads, kv_lora_rank + rope_dim]
  std::vector<float> latent_out_;   // [n, heads, kv_lora_rank]
  std::vector<float> kv_a_, q_a_;   // latent projections
  std::vector<float> gather_in_, gather_out_;  // per-head / per-expert row gathers
  std::vector<float> router_logits_;           // [n, experts]
  std::vector<std::vector<float>> cos_, sin_;  // per rope: [n, rotary_dim / 2]
  std::vector<float> logits_;       // [n or 1, vocab]
  expert_choice choice_;
};

}  // namespace owl
