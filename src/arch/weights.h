// weights.h — the canonical in-memory layout every checkpoint is normalized to at load.
//
// Matrices stay where they are stored (mmap'd, in their stored type) unless their layout must
// change (a fused q/k/v split, a rope interleave, expert tensors stored transposed): those are
// rewritten once into owned buffers. Small vectors (norm weights, biases) become float32, with
// constants such as Gemma's (1 + w) folded in. The decoder only ever sees this struct.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "arch/model_config.h"
#include "backend/backend.h"
#include "owl/safetensors.h"

namespace owl {

struct linear_weights {
  weight_matrix w;          // [out_features, in_features]; w.data == nullptr when absent
  std::vector<float> bias;  // [out_features] or empty

  bool present() const { return w.data != nullptr; }
  const float* bias_or_null() const { return bias.empty() ? nullptr : bias.data(); }
};

struct norm_weights {
  bool present = false;     // the block has this norm at all
  bool layer_norm = false;  // mean-centred LayerNorm (else RMSNorm)
  std::vector<float> weight;  // [dim] or empty (= 1)
  std::vector<float> bias;    // [dim] or empty (= 0)
};

struct mlp_weights {
  linear_weights gate;  // [intermediate, hidden]; absent for an ungated MLP
  linear_weights up;    // [intermediate, hidden]
  linear_weights down;  // [hidden, intermediate]
};

struct moe_weights {
  linear_weights router;                // [experts, hidden]
  std::vector<float> correction_bias;   // [experts] (DeepSeek V3) or empty
  std::vector<mlp_weights> experts;     // [experts]
  mlp_weights shared;                   // shared expert(s), absent when none
};

struct attention_weights {
  linear_weights q;  // [heads * head_dim, hidden] (latent without q_lora: [heads * (nope + rope), hidden])
  linear_weights k;  // [kv_heads * head_dim, hidden]
  linear_weights v;  // [kv_heads * head_dim, hidden]
  linear_weights o;  // [hidden, heads * v_head_dim]
  norm_weights q_norm, k_norm;  // per head [head_dim] or whole [heads * head_dim]
  std::vector<float> sinks;     // [heads] or empty
  // Multi-head latent attention (rope parts already permuted to rotate-half layout).
  linear_weights q_a;           // [q_lora_rank, hidden]
  norm_weights q_a_norm;        // [q_lora_rank]
  linear_weights q_b;           // [heads * (nope + rope), q_lora_rank]
  linear_weights kv_a;          // [kv_lora_rank + rope, hidden]
  norm_weights kv_a_norm;       // [kv_lora_rank]
  std::vector<weight_matrix> k_absorb;  // per head [kv_lora_rank, nope]: q_nope -> latent space
  std::vector<weight_matrix> v_up;      // per head [v_dim, kv_lora_rank]: latent -> value
};

struct layer_weights {
  norm_weights attn_pre_norm, attn_post_norm, ffn_pre_norm, ffn_post_norm;
  attention_weights attn;
  mlp_weights mlp;  // dense layers
  moe_weights moe;  // mixture-of-experts layers
};

struct model_weights {
  weight_matrix embed;        // [vocab, hidden]
  norm_weights final_norm;    // [hidden]
  linear_weights lm_head;     // [vocab, hidden] (the embedding when tied)
  std::vector<layer_weights> layers;
  std::string stored_dtype;   // dtype of the embedding, for display
  int64_t total_parameters = 0;   // every tensor of the checkpoint
  int64_t expert_parameters = 0;  // of which routed experts (only top_k of them run per token)
  int64_t stored_bytes = 0;       // bytes of all tensors as stored
  // Rewritten tensors (split, permuted, transposed) live here; pointers into it are stable.
  std::vector<std::unique_ptr<std::byte[]>> owned;
};

// Binds every tensor the config calls for, checking names, dtypes and shapes, and rejects
// tensors the architecture does not use. The store must outlive the returned weights.
model_weights bind_weights(const weight_store& store, const model_config& config);

// Offers every matrix to compute.adopt_weight once, so the backend may put it into its
// preferred layout (tied matrices together; overlapping ones never). `store` tells mapped
// bytes from the model's own buffers. Returns the bytes of the matrices the backend rewrote.
int64_t adopt_weight_layouts(model_weights& w, const weight_store& store, backend& compute);

}  // namespace owl
