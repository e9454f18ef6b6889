// decoder.h — the one forward-pass engine: a transformer decoder whose blocks (norm placement,
// attention kind, dense or mixture-of-experts MLP) are chosen by the options of a registry row.
// Architectures differ only through model_config and the normalized weights.
//
// A pass runs a batch of sequences (sessions) together: every linear layer sees all their
// token rows at once, and each sequence attends over its own KV cache. A single session's
// forward() is a batch of one.
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
  dtype kv_type = dtype::f32;           // KV-cache elements: f32 or f16
};

// Floats of KV cache one token needs in one layer.
int64_t kv_floats_per_token(const model_config& config);

// Activations of one pass, reused between passes (sized for the pass's N token rows).
struct decoder_workspace {
  std::vector<float> x;             // [N, hidden] residual stream
  std::vector<float> normed;        // [N, hidden]
  std::vector<float> block_out;     // [N, hidden]
  std::vector<float> mlp_out;       // [N, hidden] (parallel residual)
  std::vector<float> q, k, v;       // projections [N, heads or kv_heads, head_dim]
  std::vector<float> attn;          // [N, heads, v_dim]
  std::vector<float> gate, up;      // [N, intermediate]
  std::vector<float> latent_q;      // [N, heads, kv_lora_rank + rope_dim]
  std::vector<float> latent_out;    // [N, heads, kv_lora_rank]
  std::vector<float> kv_a, q_a;     // latent projections
  std::vector<float> gather_in, gather_out;      // per-head row gathers
  std::vector<float> expert_in, expert_out;      // per-expert row gathers
  std::vector<std::vector<std::pair<int64_t, float>>> expert_rows;  // [experts] -> (row, weight)
  std::vector<float> router_logits; // [N, experts]
  std::vector<std::vector<float>> cos, sin;      // per rope: [N, rotary_dim / 2]
  std::vector<float> cos_part, sin_part;         // one sequence's table, before placing it
  std::vector<float> head_rows, head_logits;     // rows whose logits are wanted, and theirs
  expert_choice choice;
};

class decoder_session final : public session {
 public:
  decoder_session(std::shared_ptr<const decoder_model_state> model, int64_t capacity);
  std::span<const float> forward(std::span<const int32_t> tokens, bool all_logits) override;
  int64_t n_past() const override { return n_past_; }
  int64_t capacity() const override { return capacity_; }
  void reset() override { n_past_ = 0; }

  const decoder_model_state* model_state() const { return model_.get(); }

 private:
  friend class decoder_pass;
  friend std::vector<std::span<const float>> decoder_forward_batch(std::span<const batch_item> items);

  std::shared_ptr<const decoder_model_state> model_;
  int64_t capacity_;
  int64_t n_past_ = 0;
  // KV cache per layer, in the model's kv_type (f32 or f16). Standard attention: k and v
  // [capacity, kv_heads, head_dim]. Latent attention: k holds [capacity, kv_lora_rank +
  // rope_dim] (normalized latent, then the rotated shared key part); the values are read from
  // the same rows, v stays empty.
  std::vector<std::vector<std::byte>> k_cache_, v_cache_;
  // Writes rows [n, width] of float32 into a cache at element offset `at`, converting to kv_type.
  void store(std::vector<std::byte>& cache, int64_t at, const float* rows, int64_t count) const;
  std::vector<float> logits_;       // [n or 1, vocab] of the last forward
  decoder_workspace workspace_;     // used when this session leads a pass
};

// model::forward_batch for decoder sessions: validates every item (sessions of one model,
// each at most once, tokens in range and within capacity), then runs passes of at most
// 512 rows.
std::vector<std::span<const float>> decoder_forward_batch(std::span<const batch_item> items);

}  // namespace owl
