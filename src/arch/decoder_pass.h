// decoder_pass.h — one forward pass over a batch of sequences (internal to src/arch).
//
// The rows of all sequences are stacked: x is [N, hidden] with sequence i owning rows
// [row0_i, row0_i + n_i). Linear layers, norms and MLPs run over all N rows at once;
// rope, KV-cache appends and attention run per sequence at its own positions.
#pragma once

#include <span>
#include <vector>

#include "arch/decoder.h"

namespace owl {

struct pass_segment {
  decoder_session* sequence = nullptr;
  std::span<const int32_t> tokens;
  int64_t row0 = 0;      // first row of this sequence in the stacked activations
};

struct logits_row {
  int64_t row = 0;       // stacked row whose logits are wanted
  float* out = nullptr;  // [vocab]
};

class decoder_pass {
 public:
  decoder_pass(const decoder_model_state& model, decoder_workspace& ws, std::span<const pass_segment> segments);
  // Runs every layer, advances each sequence's n_past, and writes the wanted logits.
  void run(std::span<const logits_row> wanted);

 private:
  // keep_rows (ascending): drop every other row after the attention block (the last layer,
  // where only rows with wanted logits still matter).
  void run_layer(int64_t layer, const std::vector<int64_t>* keep_rows);
  // Blocks read `in` [N, hidden] and write `out` [N, hidden].
  void standard_attention(int64_t layer, const float* in, float* out);
  void latent_attention(int64_t layer, const float* in, float* out);
  void dense_mlp(const mlp_weights& w, int64_t n, const float* in, float* out);
  void moe_mlp(int64_t layer, const float* in, float* out);
  void apply_norm(const norm_weights& norm, const float* x, int64_t n, int64_t dim, float* y);
  // Attention arguments of one sequence for this layer (q, caches and out left to the caller).
  attention_args attention_for(int64_t layer, const pass_segment& segment) const;

  const decoder_model_state& model_;
  const model_config& config_;
  backend& compute_;
  decoder_workspace& ws_;
  std::span<const pass_segment> segments_;
  int64_t rows_ = 0;  // N
};

}  // namespace owl
