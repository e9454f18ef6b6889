#include "arch/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "arch/rope.h"
#include "owl/error.h"

namespace owl {
namespace {
// Long prompts run in chunks so activation memory stays bounded by the chunk, not the prompt.
constexpr int64_t max_chunk = 512;
}  // namespace

decoder_session::decoder_session(std::shared_ptr<const decoder_model_state> model, int64_t capacity)
    : model_(std::move(model)), config_(model_->config), compute_(*model_->compute), capacity_(capacity) {
  const size_t kv_size = size_t(capacity_) * size_t(config_.kv_heads * config_.head_dim);
  k_cache_.assign(size_t(config_.layers), std::vector<float>(kv_size));
  v_cache_.assign(size_t(config_.layers), std::vector<float>(kv_size));
}

std::span<const float> decoder_session::forward(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = int64_t(tokens.size());
  if (n == 0) fail("forward", "no tokens to run", "pass at least one token");
  if (n_past_ + n > capacity_)
    fail("forward", std::to_string(n_past_) + " tokens in the cache + " + std::to_string(n) +
                        " new ones exceed the session's capacity of " + std::to_string(capacity_),
         "use a shorter prompt or fewer new tokens, or a model with a longer context");
  for (int32_t id : tokens)
    if (id < 0 || id >= config_.vocab_size)
      fail("forward", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(config_.vocab_size) + ")");

  const size_t vocab = size_t(config_.vocab_size);
  logits_.resize((all_logits ? size_t(n) : 1) * vocab);
  for (int64_t begin = 0; begin < n; begin += max_chunk) {
    const int64_t count = std::min(max_chunk, n - begin);
    const bool last_chunk = begin + count == n;
    float* out = all_logits ? logits_.data() + size_t(begin) * vocab : (last_chunk ? logits_.data() : nullptr);
    forward_chunk(tokens.subspan(size_t(begin), size_t(count)), all_logits, out);
  }
  return logits_;
}

void decoder_session::forward_chunk(std::span<const int32_t> tokens, bool all_logits, float* logits) {
  const model_weights& w = model_->weights;
  const int64_t n = int64_t(tokens.size());
  const int64_t hidden = config_.hidden_size;
  x_.resize(size_t(n * hidden));
  normed_.resize(x_.size());
  proj_.resize(x_.size());

  compute_.embed(w.embed, tokens, x_.data());
  rope_tables(rope_inv_freq(config_.rope, n_past_ + n), n_past_, n, cos_, sin_);

  for (int64_t layer = 0; layer < config_.layers; ++layer) {
    attention_block(layer, n);
    mlp_block(layer, n);
  }
  n_past_ += n;
  if (!logits) return;

  // Final norm and lm_head only for the rows whose logits are wanted.
  const int64_t rows = all_logits ? n : 1;
  const float* rows_in = x_.data() + size_t((n - rows) * hidden);
  compute_.rms_norm(rows_in, w.final_norm.data(), rows, hidden, float(config_.norm_eps), normed_.data());
  compute_.matmul(w.lm_head.w, w.lm_head.bias.empty() ? nullptr : w.lm_head.bias.data(), normed_.data(), rows, logits);
}

void decoder_session::attention_block(int64_t layer, int64_t n) {
  const layer_weights& lw = model_->weights.layers[size_t(layer)];
  const int64_t hidden = config_.hidden_size, head_dim = config_.head_dim;
  const int64_t heads = config_.heads, kv_heads = config_.kv_heads;
  const float eps = float(config_.norm_eps);
  auto bias = [](const linear_weights& l) { return l.bias.empty() ? nullptr : l.bias.data(); };

  q_.resize(size_t(n * heads * head_dim));
  k_.resize(size_t(n * kv_heads * head_dim));
  v_.resize(k_.size());
  attn_.resize(q_.size());

  compute_.rms_norm(x_.data(), lw.attn_norm.data(), n, hidden, eps, normed_.data());
  compute_.matmul(lw.q.w, bias(lw.q), normed_.data(), n, q_.data());
  compute_.matmul(lw.k.w, bias(lw.k), normed_.data(), n, k_.data());
  compute_.matmul(lw.v.w, bias(lw.v), normed_.data(), n, v_.data());
  if (!lw.q_norm.empty()) {  // Qwen3: RMSNorm over each head's vector
    compute_.rms_norm(q_.data(), lw.q_norm.data(), n * heads, head_dim, eps, q_.data());
    compute_.rms_norm(k_.data(), lw.k_norm.data(), n * kv_heads, head_dim, eps, k_.data());
  }
  compute_.rope(q_.data(), n, heads, head_dim, config_.rope.rotary_dim, cos_.data(), sin_.data());
  compute_.rope(k_.data(), n, kv_heads, head_dim, config_.rope.rotary_dim, cos_.data(), sin_.data());

  // Append this chunk's keys and values to the cache, then attend over everything so far.
  const size_t kv_row = size_t(kv_heads * head_dim);
  std::memcpy(k_cache_[size_t(layer)].data() + size_t(n_past_) * kv_row, k_.data(), k_.size() * sizeof(float));
  std::memcpy(v_cache_[size_t(layer)].data() + size_t(n_past_) * kv_row, v_.data(), v_.size() * sizeof(float));

  attention_args args;
  args.q = q_.data();
  args.k_cache = k_cache_[size_t(layer)].data();
  args.v_cache = v_cache_[size_t(layer)].data();
  args.out = attn_.data();
  args.n_tokens = n;
  args.first_position = n_past_;
  args.n_heads = heads;
  args.n_kv_heads = kv_heads;
  args.head_dim = head_dim;
  args.sliding_window = config_.layer_window[size_t(layer)];
  args.scale = float(1.0 / std::sqrt(double(head_dim)));
  compute_.attention(args);

  compute_.matmul(lw.o.w, bias(lw.o), attn_.data(), n, proj_.data());
  compute_.add(x_.data(), proj_.data(), n * hidden);
}

void decoder_session::mlp_block(int64_t layer, int64_t n) {
  const layer_weights& lw = model_->weights.layers[size_t(layer)];
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  auto bias = [](const linear_weights& l) { return l.bias.empty() ? nullptr : l.bias.data(); };
  gate_.resize(size_t(n * inter));
  up_.resize(gate_.size());

  compute_.rms_norm(x_.data(), lw.ffn_norm.data(), n, hidden, float(config_.norm_eps), normed_.data());
  compute_.matmul(lw.gate.w, bias(lw.gate), normed_.data(), n, gate_.data());
  compute_.matmul(lw.up.w, bias(lw.up), normed_.data(), n, up_.data());
  compute_.silu_mul(gate_.data(), up_.data(), n * inter);  // SwiGLU
  compute_.matmul(lw.down.w, bias(lw.down), gate_.data(), n, proj_.data());
  compute_.add(x_.data(), proj_.data(), n * hidden);
}

}  // namespace owl
