// weights.h — the canonical in-memory layout every checkpoint is normalized to at load.
//
// Matrices stay where they are stored (mmap'd, in their stored type); small vectors (norm
// weights, biases) are converted to float32 once. The decoder only ever sees this struct.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "arch/model_config.h"
#include "backend/backend.h"
#include "owl/safetensors.h"

namespace owl {

struct linear_weights {
  weight_matrix w;          // [out_features, in_features]
  std::vector<float> bias;  // [out_features] or empty
};

struct layer_weights {
  std::vector<float> attn_norm;  // [hidden]
  std::vector<float> ffn_norm;   // [hidden]
  std::vector<float> q_norm;     // [head_dim] or empty
  std::vector<float> k_norm;     // [head_dim] or empty
  linear_weights q;              // [heads * head_dim, hidden]
  linear_weights k;              // [kv_heads * head_dim, hidden]
  linear_weights v;              // [kv_heads * head_dim, hidden]
  linear_weights o;              // [hidden, heads * head_dim]
  linear_weights gate;           // [intermediate, hidden]
  linear_weights up;             // [intermediate, hidden]
  linear_weights down;           // [hidden, intermediate]
};

struct model_weights {
  weight_matrix embed;           // [vocab, hidden]
  std::vector<float> final_norm; // [hidden]
  linear_weights lm_head;        // [vocab, hidden] (the embedding when tied)
  std::vector<layer_weights> layers;
  std::string stored_dtype;      // dtype of the embedding, for display
};

// Binds every tensor the config calls for, checking names, dtypes and shapes, and rejects
// tensors the architecture does not use. The store must outlive the returned weights.
model_weights bind_weights(const weight_store& store, const model_config& config);

}  // namespace owl
